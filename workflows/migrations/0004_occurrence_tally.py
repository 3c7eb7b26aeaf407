"""执行计数: the occurrence tally, kept by triggers on ``workflows_occurrence`` (SQLite and
PostgreSQL), and filled from the occurrences already there.

The SQL is written out here (not imported) so that this migration keeps doing what it did
when later code changes. The buckets follow ``workflows.compliance.cell_status``: held,
checked and closed are done (late or on time), missed and cancelled are themselves, anything
else is open and keeps its due date.
"""
import django.db.models.deletion
from django.db import migrations, models

TABLE = "workflows_occurrencetally"
KEY = "unit_id, obligation_id, obligation_key, year, bucket, due_date"
DONE = "('held', 'checked', 'closed')"
SETTLED = "('held', 'checked', 'closed', 'missed', 'cancelled')"
UNDATED = {"postgresql": "DATE '9999-12-31'", "sqlite": "'9999-12-31'"}
YEAR = {"postgresql": "CAST(EXTRACT(YEAR FROM {r}.period_start) AS integer)",
        "sqlite": "CAST(strftime('%Y', {r}.period_start) AS integer)"}
TRIGGER_COLUMNS = ("unit_id", "obligation_id", "obligation_key", "period_start", "state", "late", "due_date")


def _values(vendor: str, r: str) -> list[str]:
    """The tally key of row ``r`` (NEW, OLD or a table alias), as SQL expressions."""
    bucket = (f"CASE WHEN {r}.state IN {DONE} THEN (CASE WHEN {r}.late THEN 'late' ELSE 'on_time' END) "
              f"WHEN {r}.state = 'missed' THEN 'missed' WHEN {r}.state = 'cancelled' THEN 'cancelled' ELSE 'open' END")
    due = f"CASE WHEN {r}.state IN {SETTLED} THEN {UNDATED[vendor]} ELSE {r}.due_date END"
    return [f"{r}.unit_id", f"{r}.obligation_id", f"{r}.obligation_key", YEAR[vendor].format(r=r), bucket, due]


def _match(vendor: str, r: str) -> str:
    return " AND ".join(f"{col} = {val}" for col, val in zip(KEY.split(", "), _values(vendor, r), strict=True))


def _increment(vendor: str, r: str) -> str:
    return (f"INSERT INTO {TABLE} ({KEY}, n) VALUES ({', '.join(_values(vendor, r))}, 1) "
            f"ON CONFLICT ({KEY}) DO UPDATE SET n = {TABLE}.n + 1")


def _decrement(vendor: str, r: str) -> str:
    return f"UPDATE {TABLE} SET n = n - 1 WHERE {_match(vendor, r)}; DELETE FROM {TABLE} WHERE {_match(vendor, r)} AND n <= 0"


def _changed(vendor: str) -> str:
    differs = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    return " OR ".join(f"OLD.{c} {differs} NEW.{c}" for c in TRIGGER_COLUMNS)


def _backfill(vendor: str) -> str:
    return (f"INSERT INTO {TABLE} ({KEY}, n) SELECT {', '.join(_values(vendor, 'o'))}, COUNT(*) "
            f"FROM workflows_occurrence o GROUP BY {', '.join(str(i) for i in range(1, 7))}")


def _keyed(vendor: str, r: str, delta: str) -> str:
    cols = KEY.split(", ")
    return f"SELECT {', '.join(f'{e} AS {c}' for c, e in zip(cols, _values(vendor, r), strict=True))}, {delta} AS delta"


def _apply(deltas: str) -> str:
    """Add the net change per tally key of a statement's rows; a row whose count falls to zero
    is deleted by its id (an index look-up; a set-based delete made the planner scan the
    whole tally for every statement)."""
    cols = ", ".join(f"d.{c}" for c in KEY.split(", "))
    return (f"FOR rid, remaining IN INSERT INTO {TABLE} ({KEY}, n) SELECT {cols}, SUM(d.delta) FROM ({deltas}) d "
            f"GROUP BY {cols} HAVING SUM(d.delta) <> 0 ON CONFLICT ({KEY}) DO UPDATE SET n = {TABLE}.n + excluded.n "
            f"RETURNING id, n LOOP IF remaining = 0 THEN DELETE FROM {TABLE} WHERE id = rid; END IF; END LOOP")


def _postgresql() -> list[str]:
    """Statement-level triggers with transition tables: a bulk insert of thousands of rows
    changes each tally row once, not once per occurrence (row-level triggers made the
    counters of a large subtree hot rows updated thousands of times in one transaction)."""
    v = "postgresql"
    deltas = {
        "insert": (f"{_keyed(v, 'r', '1')} FROM new_rows r", "REFERENCING NEW TABLE AS new_rows"),
        "delete": (f"{_keyed(v, 'r', '-1')} FROM old_rows r", "REFERENCING OLD TABLE AS old_rows"),
        "update": (f"{_keyed(v, 'r', '-1')} FROM old_rows r UNION ALL {_keyed(v, 'r', '1')} FROM new_rows r",
                   "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    }
    out = []
    for op, (sql, referencing) in deltas.items():
        out += [
            f"""CREATE OR REPLACE FUNCTION workflows_occurrence_tally_{op}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rid bigint;
  remaining integer;
BEGIN
  {_apply(sql)};
  RETURN NULL;
END;
$$""",
            f"CREATE TRIGGER workflows_occurrence_tally_{op} AFTER {op.upper()} ON workflows_occurrence {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION workflows_occurrence_tally_{op}()",
        ]
    return [*out, _backfill(v)]


def _sqlite() -> list[str]:
    v = "sqlite"
    return [
        f"CREATE TRIGGER workflows_occurrence_tally_insert AFTER INSERT ON workflows_occurrence BEGIN {_increment(v, 'NEW')}; END",
        f"CREATE TRIGGER workflows_occurrence_tally_delete AFTER DELETE ON workflows_occurrence BEGIN {_decrement(v, 'OLD')}; END",
        f"CREATE TRIGGER workflows_occurrence_tally_update AFTER UPDATE OF {', '.join(TRIGGER_COLUMNS)} "
        f"ON workflows_occurrence WHEN {_changed(v)} BEGIN {_decrement(v, 'OLD')}; {_increment(v, 'NEW')}; END",
        _backfill(v),
    ]


BACKWARD = {
    "postgresql": [*(f"DROP TRIGGER IF EXISTS workflows_occurrence_tally_{op} ON workflows_occurrence"
                     for op in ("insert", "update", "delete")),
                   *(f"DROP FUNCTION IF EXISTS workflows_occurrence_tally_{op}()" for op in ("insert", "update", "delete"))],
    "sqlite": ["DROP TRIGGER IF EXISTS workflows_occurrence_tally_insert", "DROP TRIGGER IF EXISTS workflows_occurrence_tally_delete",
               "DROP TRIGGER IF EXISTS workflows_occurrence_tally_update"],
}


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in BACKWARD:
        raise RuntimeError(f"执行计数触发器不支持数据库 {vendor}")
    for statement in _postgresql() if vendor == "postgresql" else _sqlite():
        schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    for statement in BACKWARD.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('procedures', '0004_signatures_obligation_5w1h'),
        ('qms', '0004_notifications'),
        ('workflows', '0003_dues'),
    ]

    operations = [
        migrations.CreateModel(
            name='OccurrenceTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('obligation_key', models.CharField(max_length=60, verbose_name='规定键')),
                ('year', models.PositiveSmallIntegerField(verbose_name='年度')),
                ('bucket', models.CharField(choices=[('on_time', '按时完成'), ('late', '逾期完成'), ('missed', '未开展'), ('cancelled', '已取消'), ('open', '未完成')], max_length=10, verbose_name='计数类别')),
                ('due_date', models.DateField(verbose_name='截止日期')),
                ('n', models.IntegerField(default=0, verbose_name='数量')),
                ('obligation', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='procedures.obligation', verbose_name='规定')),
                ('unit', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='qms.unit', verbose_name='党组织')),
            ],
            options={
                'verbose_name': '执行计数',
                'verbose_name_plural': '执行计数',
                'constraints': [models.UniqueConstraint(fields=('unit', 'obligation', 'obligation_key', 'year', 'bucket', 'due_date'), name='one_tally_per_bucket')],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
