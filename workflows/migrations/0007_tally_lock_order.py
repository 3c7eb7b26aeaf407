"""The tallies' PostgreSQL triggers take their row locks in one order (reliability T20).

Transitions of the same obligation and due date in different branches meet at the counters
of their 党总支 and 党委 (``workflows_subtreetally``). Those counters were changed by triggers
on the unit tally, and an ``INSERT … ON CONFLICT DO UPDATE`` into the unit tally fires its
INSERT and its UPDATE statement triggers separately: a transition open → held carried the new
bucket's row (inserted) before the old one's (updated), the way back the other way round, so
two transactions could each hold a counter the other wanted, and PostgreSQL aborted one with
"deadlock detected" (``tests/test_workflows_tally.py``).

Now each statement on the occurrences changes both tallies itself, in two sorted upserts: the
units' counters first, then every superior's, each in key order. Every transaction therefore
locks counters in the same order. The carry triggers on the unit tally stay, for writes to it
that do not come from the occurrences, and stand aside (``qms.tally_direct``) while an
occurrence statement carries its own changes. The SQL is written out here (not imported) so
the migration stays what it is. SQLite runs one writer at a time; its triggers are unchanged.
"""
from django.db import migrations

OCC_TALLY = "workflows_occurrencetally"
OCC_KEY = "unit_id, obligation_id, obligation_key, year, bucket, due_date"
SUB = "workflows_subtreetally"
SUB_KEY = "ancestor_id, obligation_id, obligation_key, year, bucket, due_date"
DONE = "('held', 'checked', 'closed')"
SETTLED = "('held', 'checked', 'closed', 'missed', 'cancelled')"


def _occ_keyed(r: str, delta: str) -> str:
    bucket = (f"CASE WHEN {r}.state IN {DONE} THEN (CASE WHEN {r}.late THEN 'late' ELSE 'on_time' END) "
              f"WHEN {r}.state = 'missed' THEN 'missed' WHEN {r}.state = 'cancelled' THEN 'cancelled' ELSE 'open' END")
    due = f"CASE WHEN {r}.state IN {SETTLED} THEN DATE '9999-12-31' ELSE {r}.due_date END"
    values = [f"{r}.unit_id", f"{r}.obligation_id", f"{r}.obligation_key",
              f"CAST(EXTRACT(YEAR FROM {r}.period_start) AS integer)", bucket, due]
    return f"SELECT {', '.join(f'{e} AS {c}' for c, e in zip(OCC_KEY.split(', '), values, strict=True))}, {delta} AS delta"


def _function(name: str, body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rid bigint;
  remaining integer;
BEGIN
  {body};
  RETURN NULL;
END;
$$"""


def _occurrence(direct: bool) -> list[str]:
    cols = ", ".join(f"d.{c}" for c in OCC_KEY.split(", "))
    sort = f" ORDER BY {cols}" if direct else ""
    apply = (f"FOR rid, remaining IN INSERT INTO {OCC_TALLY} ({OCC_KEY}, n) SELECT {cols}, SUM(d.delta) FROM ({{deltas}}) d "
             f"GROUP BY {cols} HAVING SUM(d.delta) <> 0{sort} ON CONFLICT ({OCC_KEY}) DO UPDATE SET n = {OCC_TALLY}.n + excluded.n "
             f"RETURNING id, n LOOP IF remaining = 0 THEN DELETE FROM {OCC_TALLY} WHERE id = rid; END IF; END LOOP")
    if direct:  # the superiors' counters from the same deltas, then the carry triggers stand aside
        sub = "d.obligation_id, d.obligation_key, d.year, d.bucket, d.due_date"
        apply = ("PERFORM set_config('qms.tally_direct', 'on', true); " + apply + "; "
                 f"FOR rid, remaining IN INSERT INTO {SUB} ({SUB_KEY}, n) SELECT CAST(substr(u.path, 9 * l.i - 8, 8) AS bigint), "
                 f"{sub}, SUM(d.delta) FROM ({{deltas}}) d JOIN qms_unit u ON u.id = d.unit_id JOIN workflows_pathlevel l "
                 f"ON l.i < length(u.path) / 9 GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(d.delta) <> 0 ORDER BY 1, 2, 3, 4, 5, 6 "
                 f"ON CONFLICT ({SUB_KEY}) DO UPDATE SET n = {SUB}.n + excluded.n RETURNING id, n LOOP "
                 f"IF remaining = 0 THEN DELETE FROM {SUB} WHERE id = rid; END IF; END LOOP; "
                 "PERFORM set_config('qms.tally_direct', 'off', true)")
    deltas = {
        "insert": f"{_occ_keyed('r', '1')} FROM new_rows r",
        "delete": f"{_occ_keyed('r', '-1')} FROM old_rows r",
        "update": f"{_occ_keyed('r', '-1')} FROM old_rows r UNION ALL {_occ_keyed('r', '1')} FROM new_rows r",
    }
    return [_function(f"workflows_occurrence_tally_{op}", apply.format(deltas=sql)) for op, sql in deltas.items()]


def _subtree(direct: bool) -> list[str]:
    cols = "d.obligation_id, d.obligation_key, d.year, d.bucket, d.due_date"
    sort = " ORDER BY 1, 2, 3, 4, 5, 6" if direct else ""
    aside = "IF current_setting('qms.tally_direct', true) = 'on' THEN RETURN NULL; END IF; " if direct else ""
    carry = (f"{aside}FOR rid, remaining IN INSERT INTO {SUB} ({SUB_KEY}, n) SELECT CAST(substr(u.path, 9 * l.i - 8, 8) AS bigint), "
             f"{cols}, SUM(d.delta) FROM ({{deltas}}) d JOIN qms_unit u ON u.id = d.unit_id JOIN workflows_pathlevel l "
             f"ON l.i < length(u.path) / 9 GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(d.delta) <> 0{sort} ON CONFLICT ({SUB_KEY}) "
             f"DO UPDATE SET n = {SUB}.n + excluded.n RETURNING id, n LOOP "
             f"IF remaining = 0 THEN DELETE FROM {SUB} WHERE id = rid; END IF; END LOOP")
    tally = "r.unit_id, r.obligation_id, r.obligation_key, r.year, r.bucket, r.due_date"
    deltas = {
        "insert": f"SELECT {tally}, r.n AS delta FROM new_rows r",
        "delete": f"SELECT {tally}, -r.n AS delta FROM old_rows r",
        "update": f"SELECT {tally}, r.n AS delta FROM new_rows r UNION ALL SELECT {tally}, -r.n FROM old_rows r",
    }
    return [_function(f"workflows_subtree_tally_{op}", carry.format(deltas=sql)) for op, sql in deltas.items()]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in [*_occurrence(True), *_subtree(True)]:
            schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in [*_occurrence(False), *_subtree(False)]:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("workflows", "0006_occurrence_due_index")]
    operations = [migrations.RunPython(forward, backward)]
