"""Imported history: who imported a past meeting and when (Occurrence), its head counts (Record)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def ledger_catch_up(apps, schema_editor):
    """Occurrence and Record gained empty fields: see ``qms.ledger.catch_up_added_fields``."""
    from qms import ledger

    ledger.catch_up_added_fields(apps, "workflows", ("Occurrence", "Record"), "0011")


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0010_member_review_and_disposal'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='occurrence',
            name='imported_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='历史记录导入时间'),
        ),
        migrations.AddField(
            model_name='occurrence',
            name='imported_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='历史记录导入人'),
        ),
        migrations.AddField(
            model_name='record',
            name='expected_count',
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name='应到人数'),
        ),
        migrations.AddField(
            model_name='record',
            name='present_count',
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name='实到人数'),
        ),
        migrations.RunPython(ledger_catch_up, migrations.RunPython.noop),
    ]
