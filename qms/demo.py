"""演示数据 — a deterministic demo party committee of an enterprise (``manage.py demo``).

Everything is built through ``qms.services`` so the ledger holds every row, with a fixed
random seed so two runs on empty databases give identical data. The committee is fictional;
its shape follows domain.md §2 (党委 → 党总支 → 党支部 → 党小组, one 联合党支部) and it
carries two deliberate structural problems for the warnings pages: a branch with more than
7 full members but no 支委会, and a branch whose term has expired (seed 001 三(二)1, 三(二)8).
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from qms import services
from qms.models import MemberCategory, Role, Unit, UnitKind

ROOT_CODE = "HX"
SEED = 20261123
TODAY = dt.date(2026, 11, 1)  # the demo is anchored, not "now", so it is the same every run

DEMO_LOGINS: list[dict[str, str]] = [
    {"username": "admin", "password": "demo-admin-2026", "role": "体系管理员", "scope": "全党委(HX)"},
    {"username": "shuji_b1", "password": "demo-shuji-2026", "role": "支部书记", "scope": "运行一值党支部(HX-Z1-B1)"},
    {"username": "shuji_b2", "password": "demo-shuji-2026", "role": "支部书记", "scope": "运行二值党支部(HX-Z1-B2)"},
    {"username": "zongzhi", "password": "demo-zongzhi-2026", "role": "党总支书记", "scope": "发电运行党总支(HX-Z1)"},
    {"username": "dangyuan", "password": "demo-member-2026", "role": "党员", "scope": "运行一值党支部(只读)"},
    {"username": "neishen", "password": "demo-audit-2026", "role": "内审员", "scope": "全党委(只读,按审核授权)"},
    {"username": "waishen", "password": "demo-external-2026", "role": "外部审核员", "scope": "全党委(只读,90天有效)"},
]

SURNAMES = (
    "王王王李李李张张张刘刘陈陈杨杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_M = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁健亮峰建国志坚立新晓东海军文博浩然子轩宇航振华国庆永春兴旺德胜"
GIVEN_F = "芳娜敏静丽艳娟霞秀英华玲红梅琳洁雪婷颖琴慧倩佳欣悦晨曦雨桐思雨梦瑶雅静若汐秋月春兰晓燕丽娟"
REGIONS = ("330302", "330303", "330381", "130404", "130406", "130481", "110105", "410102", "340102", "430104")
ETHNICITIES = ("汉族",) * 18 + ("回族", "满族", "壮族", "蒙古族")
EDUCATION = ("研究生", "本科", "本科", "本科", "大专", "大专", "中专")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class BranchSpec:
    code: str
    name: str
    parent: str
    size: int
    groups: int
    term_start: dt.date
    committee: bool = True  # False: only a 书记 (deliberate when size > 7)
    kind: str = UnitKind.BRANCH


COMMITTEE_TERM = dt.date(2023, 3, 15)
GENERAL = [
    ("HX-Z1", "发电运行党总支", "HX-AU-YX", dt.date(2024, 5, 20)),
    ("HX-Z2", "设备检修党总支", "HX-AU-JX", dt.date(2024, 5, 20)),
    ("HX-Z3", "营销服务党总支", "HX-AU-YY", dt.date(2024, 6, 10)),
]
BRANCHES = [
    BranchSpec("HX-B1", "机关第一党支部", ROOT_CODE, 30, 4, dt.date(2024, 3, 1)),
    BranchSpec("HX-B2", "机关第二党支部", ROOT_CODE, 24, 3, dt.date(2024, 3, 1)),
    BranchSpec("HX-LH", "后勤服务联合党支部", ROOT_CODE, 9, 2, dt.date(2024, 9, 1), committee=False, kind=UnitKind.JOINT_BRANCH),
    BranchSpec("HX-Z1-B1", "运行一值党支部", "HX-Z1", 28, 4, dt.date(2024, 7, 1)),
    BranchSpec("HX-Z1-B2", "运行二值党支部", "HX-Z1", 26, 4, dt.date(2024, 7, 1)),
    BranchSpec("HX-Z1-B3", "运行三值党支部", "HX-Z1", 25, 3, dt.date(2024, 7, 1)),
    BranchSpec("HX-Z1-B4", "燃料管理党支部", "HX-Z1", 20, 3, dt.date(2024, 7, 1)),
    BranchSpec("HX-Z2-B1", "电气检修党支部", "HX-Z2", 27, 4, dt.date(2024, 8, 1)),
    BranchSpec("HX-Z2-B2", "机务检修党支部", "HX-Z2", 26, 4, dt.date(2024, 8, 1)),
    BranchSpec("HX-Z2-B3", "热控检修党支部", "HX-Z2", 22, 3, dt.date(2022, 6, 1)),  # term expired 2025-06
    BranchSpec("HX-Z3-B1", "市场营销党支部", "HX-Z3", 24, 3, dt.date(2024, 9, 1)),
    BranchSpec("HX-Z3-B2", "客户服务党支部", "HX-Z3", 22, 3, dt.date(2024, 9, 1)),
    BranchSpec("HX-Z3-B3", "物资供应党支部", "HX-Z3", 18, 3, dt.date(2024, 9, 1), committee=False),  # no 支委会
]
ADMIN_UNITS = [
    ("HX-AU", "华信能源集团有限公司"), ("HX-AU-JG", "集团机关"), ("HX-AU-YX", "发电运行部"),
    ("HX-AU-JX", "设备检修部"), ("HX-AU-YY", "营销服务部"), ("HX-AU-WY", "华信物业公司"),
    ("HX-AU-HQ", "后勤服务中心"), ("HX-AU-PX", "培训中心"), ("HX-AU-DA", "档案馆"),
]


def _id_number(rng: random.Random, birth: dt.date, male: bool, used: set[str]) -> str:
    while True:
        seq = rng.randrange(0, 500) * 2 + (1 if male else 0)  # GB 11643: odd = male
        body = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{seq:03d}"
        total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
        idn = body + "10X98765432"[total % 11]
        if idn not in used:
            used.add(idn)
            return idn


def _name(rng: random.Random, male: bool, taken: set[str]) -> str:
    pool = GIVEN_M if male else GIVEN_F
    while True:
        given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
        name = rng.choice(SURNAMES) + given
        if name not in taken:
            taken.add(name)
            return name


def _person(rng: random.Random, category: str, used_ids: set[str], taken: set[str]) -> dict:
    male = rng.random() < 0.62
    birth = dt.date(rng.randint(1966, 2000), rng.randint(1, 12), rng.randint(1, 28))
    data = {
        "name": _name(rng, male, taken), "gender": "M" if male else "F",
        "id_number": _id_number(rng, birth, male, used_ids), "birth_date": birth,
        "ethnicity": rng.choice(ETHNICITIES), "education": rng.choice(EDUCATION),
        "phone": f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
        "category": category,
    }
    if category == MemberCategory.FULL:
        age = rng.randint(22, 36)
        joined = dt.date(min(birth.year + age, 2024), rng.randint(1, 12), rng.randint(1, 28))
        data["joined_on"] = joined
        data["full_on"] = joined.replace(year=joined.year + 1)
    elif category == MemberCategory.PROBATIONARY:
        data["joined_on"] = dt.date(2026, rng.randint(1, 9), rng.randint(1, 28))
    return data


def _category(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.86:
        return MemberCategory.FULL
    if r < 0.93:
        return MemberCategory.PROBATIONARY
    if r < 0.96:
        return MemberCategory.CANDIDATE
    return MemberCategory.ACTIVIST


#: Later steps of the demo added by higher packages in their AppConfig.ready (the library,
#: a year of executions …), run in order after the organisation is built. Each is
#: (name, callable(root_unit, admin_user) -> str summary).
STEPS: list[tuple[str, object]] = []


def signing(user):
    """A demo user's signature password, checked once (``qms.signatures.confirm``): the demo's
    steps sign their checks and verifications with the passwords printed for the demo."""
    from qms import signatures

    password = next(login["password"] for login in DEMO_LOGINS if login["username"] == user.get_username())
    return signatures.confirm(user, password)


def register_step(name: str, fn) -> None:
    if all(n != name for n, _ in STEPS):
        STEPS.append((name, fn))


def exists() -> bool:
    return Unit.objects.filter(code=ROOT_CODE).exists()


@transaction.atomic
def build() -> dict[str, int]:
    """Build the whole demo in one transaction; returns counts. Call only if not ``exists()``."""
    rng = random.Random(SEED)
    User = get_user_model()
    users = {}
    for login in DEMO_LOGINS:
        users[login["username"]] = User.objects.create_user(username=login["username"], password=login["password"])
    # logins that are not a 党员 of the committee go by a name too (pages show names, never logins)
    for login, name in (("admin", "党委办公室"), ("waishen", "周立新")):  # 周立新: the certification body's auditor
        users[login].first_name = name
        users[login].save(update_fields=["first_name"])

    aus = {code: services.admin_unit_create(actor=None, code=code, name=name) for code, name in ADMIN_UNITS}
    units: dict[str, Unit] = {}
    units[ROOT_CODE] = services.unit_create(
        actor=None, code=ROOT_CODE, name="中共华信能源集团有限公司委员会", kind=UnitKind.COMMITTEE,
        founded_on=dt.date(1998, 7, 1), term_start=COMMITTEE_TERM, admin_units=[aus["HX-AU"]],
        founding_ref="省国资委党委〔1998〕45号",
    )
    for code, name, au, term in GENERAL:
        units[code] = services.unit_create(actor=None, code=code, name=name, kind=UnitKind.GENERAL_BRANCH,
                                           parent=units[ROOT_CODE], founded_on=dt.date(2005, 3, 1),
                                           term_start=term, admin_units=[aus[au]], founding_ref="华信党委〔2005〕8号")
    groups: dict[str, list[Unit]] = {}
    for b in BRANCHES:
        admin_units = [aus[c] for c in ("HX-AU-WY", "HX-AU-HQ", "HX-AU-PX", "HX-AU-DA")] if b.kind == UnitKind.JOINT_BRANCH else (
            [aus["HX-AU-JG"]] if b.parent == ROOT_CODE else [])
        units[b.code] = services.unit_create(actor=None, code=b.code, name=b.name, kind=b.kind, parent=units[b.parent],
                                             founded_on=dt.date(2008, 5, 4), term_start=b.term_start, admin_units=admin_units,
                                             founding_ref="华信党委〔2008〕21号")
        groups[b.code] = [
            services.unit_create(actor=None, code=f"{b.code}-G{i}", name=f"{b.name.removesuffix('党支部')}第{'一二三四五'[i - 1]}党小组",
                                 kind=UnitKind.GROUP, parent=units[b.code])
            for i in range(1, b.groups + 1)
        ]

    used_ids: set[str] = set()
    taken: set[str] = set()
    roster: dict[str, list] = {}
    # (branch, index in its roster) → login: index 0 becomes the branch 书记; the others hold no office there
    special = {("HX-Z1-B1", 0): "shuji_b1", ("HX-Z1-B1", 12): "dangyuan", ("HX-Z1-B2", 0): "shuji_b2",
               ("HX-Z1-B3", 12): "zongzhi", ("HX-Z3-B1", 15): "neishen"}
    for b in BRANCHES:
        members = []
        for i in range(b.size):
            login = special.get((b.code, i))
            category = MemberCategory.FULL if login or i < 3 else _category(rng)
            if b.kind == UnitKind.JOINT_BRANCH and i >= 6:
                category = MemberCategory.PROBATIONARY if i == 6 else MemberCategory.ACTIVIST
            person = _person(rng, category, used_ids, taken)
            group = groups[b.code][i % len(groups[b.code])]
            start = max(person.get("joined_on") or dt.date(2015, 1, 1), dt.date(rng.randint(2015, 2023), rng.randint(1, 12), 1))
            start = min(start, TODAY)
            members.append(services.member_enroll(actor=None, unit=units[b.code], group=group, start=start,
                                                  user=users[login] if login else None, **person))
        roster[b.code] = members

    def assign(member, unit, title, start):
        if title == "secretary":  # 任前培训 before taking office (seed 001 四(二))
            services.member_event_record(member, actor=None, kind="pre_training", date=start - dt.timedelta(days=20),
                                         note="机关工委新任书记任前培训班")
        services.position_assign(actor=None, member=member, unit=unit, title=title, start=start)

    # branch committees: 书记 first member; 支委 next ones (or only a 书记)
    for b in BRANCHES:
        ms = roster[b.code]
        start = b.term_start
        titles = ["secretary"] + (["organization", "propaganda", "discipline"] + (["deputy_secretary"] if b.size >= 25 else []) if b.committee else [])
        if not b.committee:  # 不设委员会的支部,应指定专人负责纪检工作 (seed 001 三(二)1)
            titles.append("discipline_contact")
        for member, title in zip(ms, titles, strict=False):
            assign(member, units[b.code], title, start)
        for gi, g in enumerate(groups[b.code]):
            leader = ms[len(titles) + gi] if len(ms) > len(titles) + gi else ms[gi]
            assign(leader, g, "group_leader", start)
    # 总支 committees from members of their branches who hold no branch office
    for code, _unit_name, _au, term in GENERAL:
        pool = [m for b in BRANCHES if b.parent == code for m in roster[b.code][16:18]]
        if code == "HX-Z1":
            pool = [roster["HX-Z1-B3"][12]] + pool  # the zongzhi login
        for member, title in zip(pool, ["secretary", "deputy_secretary", "organization", "propaganda", "discipline"], strict=False):
            assign(member, units[code], title, term)
    # 党委 committee of 7 from the 机关 branches; its 纪委 is recorded by the 纪委书记 (seed 001 三(二)1)
    pool = roster["HX-B1"][12:16] + roster["HX-B2"][10:13]
    for member, title in zip(pool, ["secretary", "deputy_secretary", "deputy_secretary", "organization", "propaganda", "discipline_secretary", "committee_member"], strict=True):
        assign(member, units[ROOT_CODE], title, COMMITTEE_TERM)

    # a little history
    for member in roster["HX-Z1-B3"][20:23]:
        services.member_transfer(member, actor=None, date=dt.date(2025, 4, 1), to_unit=units["HX-Z2-B1"],
                                 group=groups["HX-Z2-B1"][0], note="岗位调整")
    services.member_status_change(roster["HX-B2"][20], actor=None, kind="retire", date=dt.date(2025, 12, 31), note="到龄退休")
    services.member_transfer(roster["HX-Z3-B2"][21], actor=None, date=dt.date(2026, 3, 1), to_unit=None, note="调往外单位")

    services.role_grant(actor=None, user=users["admin"], role=Role.ADMIN, unit=units[ROOT_CODE], valid_from=dt.date(2020, 1, 1))
    services.role_grant(actor=None, user=users["neishen"], role=Role.INTERNAL_AUDITOR, unit=units[ROOT_CODE], valid_from=dt.date(2025, 1, 1))
    services.role_grant(actor=None, user=users["waishen"], role=Role.EXTERNAL_AUDITOR, unit=units[ROOT_CODE],
                        valid_from=dt.date(2026, 1, 1), valid_until=timezone.localdate() + dt.timedelta(days=90))
    return {
        "units": Unit.objects.count(),
        "branches": sum(1 for b in BRANCHES),
        "groups": sum(len(g) for g in groups.values()),
        "members": sum(len(r) for r in roster.values()),
    }


def logins_table() -> str:
    lines = ["用户名      密码                 角色          范围"]
    for login in DEMO_LOGINS:
        lines.append(f"{login['username']:<11} {login['password']:<20} {login['role']:<10}  {login['scope']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ the year of history, in the background
# ``make run`` serves at once: the committee and its people are built first (seconds), the year
# of executions (minutes) by a separate process while the site is already open; its progress is
# kept in a small file next to the database and shown at the top of every page until it is done.


def progress_path():
    from django.conf import settings

    return settings.DEMO_PROGRESS_FILE


def history_progress() -> dict | None:
    """The background build's state — {"state": running|done|stopped, "message", "pid"} — or
    None when no background build was ever started. A running build whose process is gone
    reads as stopped."""
    import json
    import os

    path = progress_path()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if state.get("state") == "running":
        try:
            os.kill(int(state.get("pid") or 0), 0)
        except (OSError, ValueError):
            state["state"] = "stopped"
    return state


def write_progress(state: str, message: str = "", pid: int | None = None) -> None:
    import json
    import os

    path = progress_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"state": state, "message": message, "pid": pid or os.getpid()}, ensure_ascii=False),
                   encoding="utf-8")
    tmp.replace(path)  # readers never see half a file


def fast_demo_writes() -> None:
    """The demo's data is made again at will: on SQLite its builder commits without waiting for
    the disk (``synchronous=NORMAL`` in WAL mode — an OS crash may lose the last transactions,
    never corrupt the file). The product's own connections keep FULL (qms/settings.py). SQLite
    cannot change it inside a transaction (a test's, or a caller's): the setting is left alone there."""
    from django.db import connection

    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cur:
            cur.execute("PRAGMA synchronous=NORMAL")


def run_steps(root: Unit, admin, say) -> None:
    """Every registered history step in order, ``say`` told each progress line and summary. On
    PostgreSQL the planner's statistics are refreshed after each step: a step adds thousands of
    rows, and the next one's set-based queries would otherwise be planned for empty tables (inside
    one transaction, as in the tests, autovacuum never sees them; ANALYZE does)."""
    import time

    from django.db import connection

    for name, step in STEPS:
        t = time.perf_counter()
        summary = step(root, admin, progress=say)
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("ANALYZE")
        say(f"{name}:{summary}(用时 {time.perf_counter() - t:.1f} 秒)")
