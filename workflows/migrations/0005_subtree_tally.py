"""下级汇总计数: the tally of each unit's descendants, kept by triggers (SQLite and PostgreSQL).

A change of a unit's tally (``workflows_occurrencetally``, migration 0004) is carried to every
unit above it. ``Unit.path`` is a materialised path of zero-padded ids ("00000001/00000007/"),
so the ids of the superiors are read off the path at levels 1 … depth − 1; the levels come
from the small table ``workflows_pathlevel`` (1 … 28: a 255-character path holds 28 levels),
because SQLite triggers cannot use a recursive CTE. When a unit moves (its path changes), its
own counts leave the old line of superiors and join the new one; the service updates every
unit of a moved subtree, so each brings its own counts along. Rows whose count falls to zero
are removed. Written out here (not imported) so the migration stays what it was.
"""
import django.db.models.deletion
from django.db import migrations, models


SUB = "workflows_subtreetally"
TALLY = "workflows_occurrencetally"
KEY = "ancestor_id, obligation_id, obligation_key, year, bucket, due_date"
LEVELS = 28
INT = {"postgresql": "bigint", "sqlite": "INTEGER"}


def _ancestor(vendor: str, path: str) -> str:
    return f"CAST(substr({path}, 9 * l.i - 8, 8) AS {INT[vendor]})"


def _carry(vendor: str, path: str, source: str, where: str, delta: str) -> str:
    """Add ``delta`` of the tally row(s) in ``source`` to every superior named by ``path``."""
    return (f"INSERT INTO {SUB} ({KEY}, n) SELECT {_ancestor(vendor, path)}, k.obligation_id, k.obligation_key, k.year, "
            f"k.bucket, k.due_date, {delta} FROM {source} JOIN workflows_pathlevel l ON l.i < length({path}) / 9 WHERE {where} "
            f"ON CONFLICT ({KEY}) DO UPDATE SET n = {SUB}.n + excluded.n")


def _prune(vendor: str, path: str, source: str, where: str) -> str:
    """Remove the rows of ``source``'s keys that fell to zero (matched on the whole key, so
    each delete is a few index look-ups)."""
    return (f"DELETE FROM {SUB} WHERE n = 0 AND ({KEY}) IN (SELECT {_ancestor(vendor, path)}, k.obligation_id, "
            f"k.obligation_key, k.year, k.bucket, k.due_date FROM {source} JOIN workflows_pathlevel l "
            f"ON l.i < length({path}) / 9 WHERE {where})")


def _sqlite() -> list[str]:
    v = "sqlite"

    def on_tally(row: str, delta: str) -> str:
        src = f"(SELECT {row}.obligation_id AS obligation_id, {row}.obligation_key AS obligation_key, {row}.year AS year, " \
              f"{row}.bucket AS bucket, {row}.due_date AS due_date) k JOIN qms_unit u"
        return f"{_carry(v, 'u.path', src, f'u.id = {row}.unit_id', delta)}; {_prune(v, 'u.path', src, f'u.id = {row}.unit_id')}"

    def on_move(path: str, delta: str) -> str:
        return (f"{_carry(v, path, f'{TALLY} k', 'k.unit_id = NEW.id', delta)}; "
                f"{_prune(v, path, f'{TALLY} k', 'k.unit_id = NEW.id')}")

    return [
        f"CREATE TRIGGER workflows_subtree_tally_insert AFTER INSERT ON {TALLY} WHEN NEW.n <> 0 BEGIN {on_tally('NEW', 'NEW.n')}; END",
        f"CREATE TRIGGER workflows_subtree_tally_update AFTER UPDATE OF n ON {TALLY} WHEN NEW.n <> OLD.n "
        f"BEGIN {on_tally('NEW', 'NEW.n - OLD.n')}; END",
        f"CREATE TRIGGER workflows_subtree_tally_delete AFTER DELETE ON {TALLY} WHEN OLD.n <> 0 BEGIN {on_tally('OLD', '-OLD.n')}; END",
        f"CREATE TRIGGER workflows_subtree_tally_move AFTER UPDATE OF path ON qms_unit WHEN OLD.path IS NOT NEW.path "
        f"BEGIN {on_move('NEW.path', 'k.n')}; {on_move('OLD.path', '-k.n')}; END",
    ]


def _pg_carry() -> list[str]:
    """Statement-level triggers on the tally with transition tables: the net change of each
    tally row a statement touched is carried to every superior, summed per key, so a bulk
    change updates each superior's row once per statement."""
    cols = "d.obligation_id, d.obligation_key, d.year, d.bucket, d.due_date"
    expand = "FROM ({deltas}) d JOIN qms_unit u ON u.id = d.unit_id JOIN workflows_pathlevel l ON l.i < length(u.path) / 9"
    carry = (f"FOR rid, remaining IN INSERT INTO {SUB} ({KEY}, n) SELECT {_ancestor('postgresql', 'u.path')}, {cols}, "
             f"SUM(d.delta) {expand} GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(d.delta) <> 0 ON CONFLICT ({KEY}) "
             f"DO UPDATE SET n = {SUB}.n + excluded.n RETURNING id, n LOOP "
             f"IF remaining = 0 THEN DELETE FROM {SUB} WHERE id = rid; END IF; END LOOP")
    tally = "r.unit_id, r.obligation_id, r.obligation_key, r.year, r.bucket, r.due_date"
    deltas = {
        "insert": (f"SELECT {tally}, r.n AS delta FROM new_rows r", "REFERENCING NEW TABLE AS new_rows"),
        "delete": (f"SELECT {tally}, -r.n AS delta FROM old_rows r", "REFERENCING OLD TABLE AS old_rows"),
        # a tally row keeps its key: new minus old count, summed per key (no join of the two
        # transition tables, which the planner, seeing no statistics, would nest-loop)
        "update": (f"SELECT {tally}, r.n AS delta FROM new_rows r UNION ALL SELECT {tally}, -r.n FROM old_rows r",
                   "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    }
    out = []
    for op, (sql, referencing) in deltas.items():
        out += [
            f"""CREATE OR REPLACE FUNCTION workflows_subtree_tally_{op}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rid bigint;
  remaining integer;
BEGIN
  {carry.format(deltas=sql)};
  RETURN NULL;
END;
$$""",
            f"CREATE TRIGGER workflows_subtree_tally_{op} AFTER {op.upper()} ON {TALLY} {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION workflows_subtree_tally_{op}()",
        ]
    return out


def _postgresql() -> list[str]:
    # A moved unit (row-level on qms_unit, rare): plpgsql, one indexed upsert per superior.
    return [
        f"""CREATE OR REPLACE FUNCTION workflows_subtree_add(p text, ob bigint, okey varchar, yr integer, b varchar, d date,
                                                     delta integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  a bigint;
  remaining integer;
BEGIN
  FOR lvl IN 1 .. length(p) / 9 - 1 LOOP
    a := CAST(substr(p, 9 * lvl - 8, 8) AS bigint);
    INSERT INTO {SUB} ({KEY}, n) VALUES (a, ob, okey, yr, b, d, delta)
      ON CONFLICT ({KEY}) DO UPDATE SET n = {SUB}.n + excluded.n RETURNING n INTO remaining;
    IF remaining = 0 THEN
      DELETE FROM {SUB} WHERE ancestor_id = a AND obligation_id = ob AND obligation_key = okey AND year = yr
        AND bucket = b AND due_date = d;
    END IF;
  END LOOP;
END;
$$""",
        f"""CREATE OR REPLACE FUNCTION workflows_subtree_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM {TALLY} WHERE unit_id = NEW.id AND n <> 0 LOOP
    PERFORM workflows_subtree_add(NEW.path, t.obligation_id, t.obligation_key, t.year, t.bucket, t.due_date, t.n);
    PERFORM workflows_subtree_add(OLD.path, t.obligation_id, t.obligation_key, t.year, t.bucket, t.due_date, -t.n);
  END LOOP;
  RETURN NULL;
END;
$$""",
        *_pg_carry(),
        "CREATE TRIGGER workflows_subtree_tally_move AFTER UPDATE OF path ON qms_unit FOR EACH ROW "
        "WHEN (OLD.path IS DISTINCT FROM NEW.path) EXECUTE FUNCTION workflows_subtree_move()",
    ]


def _backfill(vendor: str) -> list[str]:
    return [
        "CREATE TABLE workflows_pathlevel (i integer PRIMARY KEY)",
        f"INSERT INTO workflows_pathlevel (i) VALUES {', '.join(f'({i})' for i in range(1, LEVELS + 1))}",
        f"INSERT INTO {SUB} ({KEY}, n) SELECT {_ancestor(vendor, 'u.path')}, k.obligation_id, k.obligation_key, k.year, k.bucket, "
        f"k.due_date, SUM(k.n) FROM {TALLY} k JOIN qms_unit u ON u.id = k.unit_id JOIN workflows_pathlevel l "
        f"ON l.i < length(u.path) / 9 GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(k.n) <> 0",
    ]


BACKWARD = {
    "postgresql": [*(f"DROP TRIGGER IF EXISTS workflows_subtree_tally_{op} ON workflows_occurrencetally"
                     for op in ("insert", "update", "delete")),
                   *(f"DROP FUNCTION IF EXISTS workflows_subtree_tally_{op}()" for op in ("insert", "update", "delete")),
                   "DROP TRIGGER IF EXISTS workflows_subtree_tally_move ON qms_unit",
                   "DROP FUNCTION IF EXISTS workflows_subtree_move()",
                   "DROP FUNCTION IF EXISTS workflows_subtree_add(text, bigint, varchar, integer, varchar, date, integer)",
                   "DROP TABLE IF EXISTS workflows_pathlevel"],
    "sqlite": [*(f"DROP TRIGGER IF EXISTS workflows_subtree_tally_{t}" for t in ("insert", "update", "delete", "move")),
               "DROP TABLE IF EXISTS workflows_pathlevel"],
}


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in BACKWARD:
        raise RuntimeError(f"下级汇总计数触发器不支持数据库 {vendor}")
    for statement in [*_backfill(vendor), *(_postgresql() if vendor == "postgresql" else _sqlite())]:
        schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    for statement in BACKWARD.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('procedures', '0004_signatures_obligation_5w1h'),
        ('qms', '0004_notifications'),
        ('workflows', '0004_occurrence_tally'),
    ]

    operations = [
        migrations.CreateModel(
            name='SubtreeTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('obligation_key', models.CharField(max_length=60, verbose_name='规定键')),
                ('year', models.PositiveSmallIntegerField(verbose_name='年度')),
                ('bucket', models.CharField(choices=[('on_time', '按时完成'), ('late', '逾期完成'), ('missed', '未开展'), ('cancelled', '已取消'), ('open', '未完成')], max_length=10, verbose_name='计数类别')),
                ('due_date', models.DateField(verbose_name='截止日期')),
                ('n', models.IntegerField(default=0, verbose_name='数量')),
                ('ancestor', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='qms.unit', verbose_name='上级党组织')),
                ('obligation', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='procedures.obligation', verbose_name='规定')),
            ],
            options={
                'verbose_name': '下级汇总计数',
                'verbose_name_plural': '下级汇总计数',
                'constraints': [models.UniqueConstraint(fields=('ancestor', 'obligation', 'obligation_key', 'year', 'bucket', 'due_date'), name='one_subtree_tally_per_bucket')],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
