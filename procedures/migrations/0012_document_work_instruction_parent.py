# 作业文件: a work instruction's procedure (Document.parent), only for work instructions.

import django.db.models.deletion
from django.db import migrations, models


def ledger_catch_up(apps, schema_editor):
    """Record the new (empty) column in the ledger for documents that already exist (see
    ``qms.ledger.catch_up_added_fields``)."""
    from qms import ledger

    ledger.catch_up_added_fields(apps, "procedures", ("Document",), "0012")


class Migration(migrations.Migration):

    dependencies = [
        ('procedures', '0011_serious_case_report_event'),
        ('qms', '0010_higher_decisions'),
    ]

    operations = [
        migrations.AddField(
            model_name='document',
            name='parent',
            field=models.ForeignKey(blank=True, help_text='作业文件所细化的程序文件;只有作业文件填写', limit_choices_to={'kind': 'procedure'}, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='instructions', to='procedures.document', verbose_name='所属程序文件'),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.CheckConstraint(condition=models.Q(('parent__isnull', True), ('kind', 'work_instruction'), _connector='OR'), name='document_parent_only_for_instructions'),
        ),
        migrations.RunPython(ledger_catch_up, migrations.RunPython.noop),
    ]
