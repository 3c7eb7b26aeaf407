"""On PostgreSQL, make the ledger append-only at the database level (reliability.md T6).

UPDATE and DELETE are always refused. TRUNCATE is refused too, except by the table's owner
who has set ``qms.ledger_truncate = 'on'`` in the session: the owner can disable triggers
anyway, and the test harness needs it to empty the test database between transactional
tests. The application should connect as a non-owner role (docs/operations.md).
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION qms_ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE'
     AND current_setting('qms.ledger_truncate', true) = 'on'
     AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '留痕台账只允许追加,拒绝 % 操作', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER qms_ledger_no_update_delete BEFORE UPDATE OR DELETE ON qms_ledgerentry
  FOR EACH ROW EXECUTE FUNCTION qms_ledger_refuse();
CREATE TRIGGER qms_ledger_no_truncate BEFORE TRUNCATE ON qms_ledgerentry
  FOR EACH STATEMENT EXECUTE FUNCTION qms_ledger_refuse();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS qms_ledger_no_update_delete ON qms_ledgerentry;
DROP TRIGGER IF EXISTS qms_ledger_no_truncate ON qms_ledgerentry;
DROP FUNCTION IF EXISTS qms_ledger_refuse();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("qms", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
