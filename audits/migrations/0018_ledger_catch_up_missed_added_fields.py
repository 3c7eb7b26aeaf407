"""Four migrations added columns to ledgered models without the ledger's catch-up entry
(``qms.ledger.catch_up_added_fields``), so a database made before them failed ``verify_ledger``
after the upgrade, every such row reported as changed outside the system (found by the upgrade
rehearsal, tests/test_upgrade.py, on a database made at f43d92a):

- qms 0011: Unit.ends_on, Unit.founding_ref
- procedures 0005, 0009: Obligation.attendees, Obligation.per_person
- workflows 0010: FollowUp.measure
- audits 0013: ScoringItem.kinds, ScoringItem.source

Each row whose previously ledgered fields all still match gets one entry noting the new (empty)
fields; a row with genuine drift is left for ``verify`` to report. On a database made after those
migrations every row's last entry already knows the fields: nothing is written.
"""
from django.db import migrations


def ledger_catch_up(apps, schema_editor):
    from qms import ledger

    for app_label, models, migration in (("qms", ("Unit",), "0011"),
                                         ("procedures", ("Obligation",), "0005/0009"),
                                         ("workflows", ("FollowUp",), "0010"),
                                         ("audits", ("ScoringItem",), "0013")):
        ledger.catch_up_added_fields(apps, app_label, models, migration)


class Migration(migrations.Migration):

    dependencies = [
        ("audits", "0017_nonconformity_sources_targets_and_risks"),
        ("qms", "0015_electronic_signatures"),
        ("procedures", "0013_field_types_members_period"),
        ("workflows", "0018_coalitions_and_liaison_points"),
    ]

    operations = [migrations.RunPython(ledger_catch_up, migrations.RunPython.noop)]
