"""外部编号: the id another system gives a meeting it sends through the data interface
(api/views_imports.py), unique where present.

Nullable, so SQLite adds the column in place (a NOT NULL column rebuilds the table and would drop
the tally triggers of migrations 0004/0005). Occurrences that already exist get the ledger's
catch-up entry for the new (empty) field (``qms.ledger.catch_up_added_fields``), so
``verify_ledger`` does not take each of them for a row changed outside the system.
"""
from django.conf import settings
from django.db import migrations, models


def ledger_catch_up(apps, schema_editor):
    from qms import ledger

    ledger.catch_up_added_fields(apps, "workflows", ("Occurrence",), "0019")


class Migration(migrations.Migration):

    dependencies = [
        ("procedures", "0013_field_types_members_period"),
        ("qms", "0017_member_employee_number"),
        ("workflows", "0018_coalitions_and_liaison_points"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="occurrence",
            name="external_id",
            field=models.CharField(blank=True, max_length=100, null=True, verbose_name="外部编号"),
        ),
        migrations.AddConstraint(
            model_name="occurrence",
            constraint=models.UniqueConstraint(condition=models.Q(("external_id__isnull", False)), fields=("external_id",),
                                               name="one_occurrence_per_external_id"),
        ),
        migrations.RunPython(ledger_catch_up, migrations.RunPython.noop),
    ]
