"""Benchmark data: a large state enterprise on PostgreSQL (issue 7), deterministic (seeded).

At ``--scale 1``: 1 党委, 200 党总支, 5,000 党支部, 15,000 党小组, 150,000 members, the standard
library, one year of occurrences laid out from each unit's effective rules with realistic
gaps (on time, late, missed, not yet due), records with attendance for the meetings held, and
20,000 nonconformities. Rows go in with bulk inserts; bulk-made rows have no ledger entries
(``verify_ledger`` would list them as unrecorded — this is benchmark data, never production).

    createdb qms_bench   # or any empty PostgreSQL database
    DATABASE_URL=postgres://…/qms_bench .venv/bin/python bench/generate.py --scale 0.2

Refuses to run on a database that already holds units.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")

SEED = 2026
BATCH = 5000
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(n: int) -> tuple[str, str, dt.date]:
    """A valid, unique 18-digit 居民身份证号码 (GB 11643 check digit) for member number ``n``,
    with the gender and birth date it encodes."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=n % 20000)
    seq = (n // 20000) * 2 + n % 2  # odd → male
    body = f"110101{birth:%Y%m%d}{seq:03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
    return body + check, "M" if seq % 2 else "F", birth


def _pk_start(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def _reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as c:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            c.execute(sql)


def build(scale: float, year: int, today: dt.date, log=print) -> dict[str, int]:
    from django.db import connection, transaction

    from audits.models import Nonconformity
    from procedures.library_loader import load_library
    from procedures.rules import effective_rules
    from qms.models import Member, Membership, Unit, UnitKind
    from workflows.models import Attendance, Occurrence, Record, State
    from workflows.periods import slots_for

    rng = random.Random(SEED)
    counts: dict[str, int] = {}
    if Unit.objects.exists():
        raise SystemExit("数据库中已有组织:请使用空数据库(createdb qms_bench)")
    t0 = time.perf_counter()
    load_library()
    log(f"标准文件库已加载({time.perf_counter() - t0:.1f}s)")

    n_general = max(1, round(200 * scale))
    n_branch = max(1, round(5000 * scale))
    groups_per_branch, members_per_branch = 3, 30
    start_pk = _pk_start(Unit)
    units: list[Unit] = []
    pk = start_pk

    def unit(code, name, kind, parent, term_start):
        nonlocal pk
        path = (parent.path if parent else "") + f"{pk:08d}/"
        u = Unit(pk=pk, code=code, name=name, kind=kind, parent=parent, path=path, depth=path.count("/") - 1,
                 founded_on=dt.date(2000, 1, 1), term_start=term_start, is_active=True)
        pk += 1
        units.append(u)
        return u

    root = unit("BIG", "中共某能源集团有限公司委员会", UnitKind.COMMITTEE, None, dt.date(year - 2, 6, 1))
    branches = []
    for g in range(n_general):
        gen = unit(f"BIG-Z{g:03d}", f"第{g + 1}党总支", UnitKind.GENERAL_BRANCH, root, dt.date(year - 1, 1 + g % 12, 1))
        per = n_branch // n_general + (1 if g < n_branch % n_general else 0)
        for b in range(per):
            # terms of 3 years starting in the last 3 years: about a third fall due this year
            term = dt.date(year - 3 + rng.randint(0, 2), rng.randint(1, 12), 1)
            br = unit(f"{gen.code}-B{b:03d}", f"{gen.name}第{b + 1}党支部", UnitKind.BRANCH, gen, term)
            branches.append(br)
            for k in range(groups_per_branch):
                unit(f"{br.code}-G{k}", f"第{k + 1}党小组", UnitKind.GROUP, br, None)
    with transaction.atomic():
        for i in range(0, len(units), BATCH):
            Unit.objects.bulk_create(units[i:i + BATCH])
    counts["units"] = len(units)
    log(f"组织 {len(units):,}({time.perf_counter() - t0:.1f}s)")

    members, memberships = [], []
    mpk = _pk_start(Member)
    by_branch: dict[int, list[int]] = {}
    for br in branches:
        ids = []
        for i in range(members_per_branch):
            ids.append(mpk)
            number, gender, birth = id_number(mpk)
            members.append(Member(pk=mpk, name=f"党员{mpk}", gender=gender, id_number=number, birth_date=birth,
                                  category="full" if i % 10 else "probationary",
                                  joined_on=max(birth.replace(year=birth.year + 20), dt.date(2000 + i % 20, 7, 1))))
            memberships.append(Membership(member_id=mpk, unit=br, start=dt.date(2020, 1, 1)))
            mpk += 1
        by_branch[br.pk] = ids
    with transaction.atomic():
        for i in range(0, len(members), BATCH):
            Member.objects.bulk_create(members[i:i + BATCH])
        for i in range(0, len(memberships), BATCH):
            Membership.objects.bulk_create(memberships[i:i + BATCH])
    counts["members"] = len(members)
    log(f"党员 {len(members):,}({time.perf_counter() - t0:.1f}s)")

    # one year of occurrences: the rules of one unit of each kind stand for all of that kind
    rules = {}
    for u in units:
        if u.kind not in rules:
            rules[u.kind] = [r.obligation for r in effective_rules(u) if not r.obligation.event]
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    slots = {kind: [(ob, list(slots_for(count=ob.count, per=ob.per, every_months=ob.every_months, before=ob.before,
                                        preferred_period=ob.preferred_period, grace_days=ob.grace_days, start=start, end=end)))
                    for ob in obs] for kind, obs in rules.items()}
    opk, rpk = _pk_start(Occurrence), _pk_start(Record)
    occ_batch, rec_batch, att_batch = [], [], []
    n_occ = n_rec = n_att = 0

    def flush(final=False):
        nonlocal occ_batch, rec_batch, att_batch
        if len(occ_batch) >= BATCH or final:
            with transaction.atomic():
                Occurrence.objects.bulk_create(occ_batch)
                Record.objects.bulk_create(rec_batch)
                Attendance.objects.bulk_create(att_batch)
            occ_batch, rec_batch, att_batch = [], [], []

    for u in units:
        profile = rng.random()  # some units are good, some poor: realistic spread of gaps
        miss_p = 0.02 if profile < 0.6 else 0.08 if profile < 0.9 else 0.25
        for ob, ob_slots in slots[u.kind]:
            for s in ob_slots:
                due_past = s.due < today
                roll = rng.random()
                if not due_past:
                    state, held, late = State.OPEN, None, False
                elif roll < miss_p:
                    state, held, late = State.MISSED, None, False
                else:
                    late = roll < miss_p + 0.06
                    held = s.due + dt.timedelta(days=rng.randint(1, 20)) if late else s.start + dt.timedelta(
                        days=rng.randint(0, max(0, (s.due - s.start).days)))
                    held = min(held, today - dt.timedelta(days=1))
                    state = State.CLOSED if rng.random() < 0.8 else State.CHECKED
                occ_batch.append(Occurrence(pk=opk, unit=u, obligation=ob, obligation_key=ob.key, period_start=s.start,
                                            period_end=s.end, seq=s.seq, due_date=s.due, state=state, held_on=held, late=late,
                                            topic=f"{ob.title}" if held else ""))
                n_occ += 1
                if held and ob.form_id:
                    rec_batch.append(Record(pk=rpk, occurrence_id=opk, form_id=ob.form_id, elements={"topic": ob.title}))
                    n_rec += 1
                    for mid in rng.sample(by_branch.get(u.pk, []), min(4, len(by_branch.get(u.pk, [])))):
                        att_batch.append(Attendance(record_id=rpk, member_id=mid, presence="present"))
                        n_att += 1
                    rpk += 1
                opk += 1
                flush()
    flush(final=True)
    counts.update(occurrences=n_occ, records=n_rec, attendance=n_att)
    log(f"事项 {n_occ:,},记录 {n_rec:,},出席 {n_att:,}({time.perf_counter() - t0:.1f}s)")

    states = ["raised", "acknowledged", "analysed", "planned", "implemented", "verified", "closed", "effective"]
    weights = [5, 5, 5, 10, 10, 5, 40, 20]
    ncs = []
    for i in range(round(20000 * scale)):
        br = branches[rng.randrange(len(branches))]
        raised = start + dt.timedelta(days=rng.randint(0, max(0, (min(today, end) - start).days)))
        state = rng.choices(states, weights)[0]
        due = raised + dt.timedelta(days=rng.randint(10, 60))
        closed = min(today, raised + dt.timedelta(days=rng.randint(5, 70))) if state in ("closed", "effective") else None
        ncs.append(Nonconformity(code=f"NC-{year}-B{i:06d}", unit=br, source="gap", grade=rng.choice(["minor", "minor", "major", "observation"]),
                                 clause="DJ-CX-02", requirement="每月召开支委会", evidence="缺记录", raised_on=raised,
                                 due_date=due if state != "raised" else None, closed_on=closed, state=state))
    with transaction.atomic():
        for i in range(0, len(ncs), BATCH):
            Nonconformity.objects.bulk_create(ncs[i:i + BATCH])
    counts["nonconformities"] = len(ncs)
    _reset_sequences(Unit, Member, Membership, Occurrence, Record, Attendance, Nonconformity)
    with connection.cursor() as c:
        c.execute("ANALYZE")
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    log(f"不符合项 {len(ncs):,};合计用时 {counts['seconds']}s")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--year", type=int, default=None)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "postgresql":
        raise SystemExit("基准数据需要 PostgreSQL(设置 DATABASE_URL)")
    call_command("migrate", verbosity=0)
    today = timezone.localdate()
    print(build(args.scale, args.year or today.year, today))


if __name__ == "__main__":
    main()
