"""The shipped standard library: loads cleanly and idempotently, every rule cited, the seed
defaults present; bad files are rejected with file, key path and reason and nothing is
loaded; a newer library version never overwrites anyone's own version."""
from __future__ import annotations

import datetime as dt
import io
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from procedures import services
from procedures.library_loader import LIBRARY_DIR, LIBRARY_SIGNER, load_library, validate_library
from procedures.models import Document, DocumentVersion, Obligation, RecordForm, VersionStatus
from procedures.rules import expected_count
from qms import ledger
from qms.models import LedgerEntry
from tests import factories

pytestmark = pytest.mark.django_db

REQUIRED_PROCEDURES = [
    "支部党员大会", "支部委员会", "党小组会", "党课", "主题党日", "组织生活会", "民主评议党员", "谈心谈话", "党费",
    "组织关系转接", "换届选举", "在职党员进社区", "党务公开", "机关党委、党总支会议与督导检查", "民主生活会",
    "思想动态分析会", "发展党员", "党务干部培训", "述职评议考核", "文件控制", "记录控制", "内部审核", "不符合项控制",
    "纠正措施", "管理评审", "党建工作手册",
]

# (obligation key, yearly count in the library, and how it is stated) — the seed defaults
SEED_DEFAULTS = [
    ("branch_general_meeting", 4, "seed 001 三(二)2"),           # 每季度至少1次支部党员大会
    ("branch_committee_meeting", 12, "seed 001 三(二)2"),         # 每月至少1次支委会 (004 篇1: 每两月)
    ("party_group_meeting", 12, "seed 001 三(二)2"),
    ("party_lecture", 4, "seed 001 三(二)2"),
    ("secretary_lecture", 2, "seed 001 三(一)3"),                # 书记每年讲党课不少于2次
    ("theme_party_day", 12, "seed 001 三(二)6"),
    ("oath_party_day", 1, "seed 001 三(二)6"),                    # 七一前
    ("organization_life_meeting", 1, "seed 001 三(二)3"),
    ("member_democratic_review", 1, "seed 001 三(二)4"),
    ("general_branch_secretary_talks", 1, "seed 001 三(一)2"),
    ("party_dues_collection", 12, "seed 001 三(二)7"),
    ("community_service", 12, "seed 001 三(二)9"),
    ("organ_general_meeting", 1, "seed 001 三(一)2"),
    ("committee_meeting", 4, "seed 001 三(一)2"),
    ("supervision_inspection", 2, "seed 001 三(一)2"),
    ("democratic_life_meeting", 2, "seed 004 篇1 十三"),
    ("thought_analysis", 4, "seed 004 篇1 二十"),
    ("development_plan", 1, "seed 004 篇1 十五"),
    ("secretary_training", 1, "seed 001 四(二)"),
    ("duty_report", 1, "seed 001 三(一)2"),
    ("internal_audit", 1, "ISO 9001:2015 §9.2"),
    ("management_review", 1, "ISO 9001:2015 §9.3"),
]


def test_library_validates_and_covers_every_required_procedure():
    problems, forms, documents = validate_library()
    assert problems == []
    titles = " ".join(d["title"] for d in documents)
    for name in REQUIRED_PROCEDURES:
        assert name in titles, name
    assert any(d["kind"] == "manual" for d in documents)
    for d in documents:
        assert re.fullmatch(r"DJ-(CX|SC|ZY)-\d{2}", d["code"]), d["code"]
        for o in d["obligations"]:
            assert o["source"].strip(), (d["code"], o["key"])
            # a citation names a seed file, a regulation (《…》) or an ISO clause
            assert re.search(r"seed 00\d|《.+》|ISO \d+", o["source"]), (d["code"], o["key"], o["source"])
    for code in forms:
        assert re.fullmatch(r"DJ-JL-\d{2}", code), code


def test_load_is_idempotent_and_ledgered():
    out = io.StringIO()
    call_command("load_procedures", stdout=out)
    assert "载入完成" in out.getvalue()
    n_docs, n_entries = Document.objects.count(), LedgerEntry.objects.count()
    assert n_docs >= 26 and RecordForm.objects.count() >= 10
    assert not Obligation.objects.filter(source="").exists()
    assert DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE).count() == n_docs
    assert ledger.verify().ok
    # the second run: nothing to do, nothing written
    out = io.StringIO()
    call_command("load_procedures", stdout=out)
    assert "0 项变化" in out.getvalue()
    report = load_library()
    assert report.changes == 0 and report.unchanged > 0 and not report.problems
    assert (Document.objects.count(), LedgerEntry.objects.count()) == (n_docs, n_entries)
    assert ledger.verify().ok


def test_library_versions_are_signed_by_the_system_with_a_review_date():
    load_library()
    v = Document.objects.get(owner=None, library_key="party_lecture").effective_version()
    assert v.approver_name == LIBRARY_SIGNER and v.approval_meaning == "标准文件库发布" and v.approved_at
    assert v.approved_by is None and v.next_review_on and v.document.next_review_on == v.next_review_on
    assert [e.actor_name for e in ledger.history(v)] == ["系统"]


def test_default_meeting_form_has_the_seed_elements_required():
    load_library()
    form = RecordForm.objects.get(code="DJ-JL-01")
    labels = [f.label for f in form.fields.filter(required=True)]
    # seed 001 三(二)2: 时间、地点、主题,出席、缺席、列席人员,发言内容、表决情况、决议分工落实情况等要素齐全
    assert labels == ["时间", "地点", "主题", "出席、缺席、列席人员", "发言内容", "表决情况", "决议分工落实情况"]
    assert "出席、缺席、列席人员,发言内容、表决情况、决议分工落实情况" in form.source
    assert Obligation.objects.get(key="branch_committee_meeting").form == form


@pytest.mark.parametrize(("key", "per_year", "cited"), SEED_DEFAULTS)
def test_seed_defaults_and_their_citations(key, per_year, cited):
    load_library()
    o = Obligation.objects.get(key=key, version__document__owner=None)
    assert expected_count(o, 2026) == per_year
    assert cited in o.source


def test_event_and_calendar_rules_as_data():
    load_library()
    by_key = {o.key: o for o in Obligation.objects.all()}
    assert by_key["oath_party_day"].before == "07-01"
    assert by_key["organization_life_meeting"].preferred_period == "Q4"
    assert by_key["special_organization_life_meeting"].event == "serious_discipline_case"
    assert by_key["membership_transfer"].event == "member_transfer"
    assert by_key["term_election"].event == "term_expiry"
    assert by_key["talk_retirement"].expected_per_year() == 0
    # 六必谈 (seed 001 三(二)5): one event-triggered rule for each occasion
    talks = {o.event for o in by_key.values() if o.key.startswith("talk_")}
    assert {"job_change", "commendation", "discipline", "hardship", "conflict", "bad_report", "retirement"} <= talks
    assert "seed 004 篇1 十三" in by_key["branch_committee_meeting"].source  # the disagreement is recorded


# ------------------------------------------------------------------------ bad library files


@pytest.fixture
def libcopy(tmp_path) -> Path:
    dst = tmp_path / "lib"
    shutil.copytree(LIBRARY_DIR, dst)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


SECRETARY_SOURCE = 'source = "seed 001 三(一)3:支部书记每年为支部党员讲党课不少于2次"'

BAD_FILES = [
    # (what is wrong, file, old text, new text, key path, reason)
    ("unknown field", "cx01_branch_general_meeting.toml", 'grace_days = 0', 'grace_days = 0\ncolour = "red"',
     "obligations[0](branch_general_meeting).colour", "未知字段"),
    ("unknown document field", "cx01_branch_general_meeting.toml", 'kind = "procedure"', 'kind = "procedure"\nauthor = "x"',
     "document.author", "未知字段"),
    ("bad period", "cx01_branch_general_meeting.toml", 'per = "quarter"', 'per = "fortnight"',
     "obligations[0](branch_general_meeting).per", "频次单位“fortnight”无效"),
    ("no frequency", "cx03_party_group_meeting.toml", 'count = 1\nper = "month"\n', '',
     "obligations[0](party_group_meeting)", "没有频次"),
    ("count without per", "cx03_party_group_meeting.toml", 'per = "month"\n', '',
     "obligations[0](party_group_meeting).per", "缺少频次单位 per"),
    ("conflicting frequency", "cx05_theme_party_day.toml", 'before = "07-01"', 'before = "07-01"\ncount = 1\nper = "year"',
     "obligations[1](oath_party_day)", "频次字段互相冲突"),
    ("preferred period on a monthly rule", "cx03_party_group_meeting.toml", 'per = "month"', 'per = "month"\npreferred_period = "Q4"',
     "obligations[0](party_group_meeting).preferred_period", "只适用于每年"),
    ("bad date", "cx05_theme_party_day.toml", 'before = "07-01"', 'before = "13-40"',
     "obligations[1](oath_party_day).before", "无效"),
    ("missing form", "cx02_branch_committee_meeting.toml", 'form = "DJ-JL-01"', 'form = "DJ-JL-99"',
     "obligations[0](branch_committee_meeting).form", "DJ-JL-99 不存在"),
    ("duplicate code", "cx02_branch_committee_meeting.toml", 'code = "DJ-CX-02"', 'code = "DJ-CX-01"',
     "document", "文件编号 DJ-CX-01"),
    ("blank source", "cx04_party_lecture.toml", SECRETARY_SOURCE, 'source = " "',
     "obligations[1](secretary_lecture).source", "必须注明依据"),
    ("missing source", "cx04_party_lecture.toml", SECRETARY_SOURCE + "\n", "",
     "obligations[1](secretary_lecture).source", "缺少必填字段"),
    ("source too long", "cx04_party_lecture.toml", SECRETARY_SOURCE, f'source = "seed 001 {"长" * 200}"',
     "obligations[1](secretary_lecture).source", "超过上限 200"),
    ("unknown event", "cx08_heart_to_heart_talks.toml", 'event = "hardship"', 'event = "birthday"',
     "obligations[4](talk_hardship).event", "未知的触发事件"),
    ("unknown position", "cx01_branch_general_meeting.toml", 'responsible = "secretary"', 'responsible = "boss"',
     "obligations[0](branch_general_meeting).responsible", "未知的职务"),
    ("unknown unit kind", "cx01_branch_general_meeting.toml", 'applies_to = ["branch"', 'applies_to = ["club"',
     "obligations[0](branch_general_meeting).applies_to", "适用组织类别无效"),
    ("unknown document kind", "cx01_branch_general_meeting.toml", 'kind = "procedure"', 'kind = "poster"',
     "document.kind", "未知的文件类别"),
    ("unknown field type", "forms.toml", '{ key = "votes", label = "表决情况", type = "votes" }',
     '{ key = "votes", label = "表决情况", type = "emoji" }', "forms[0](DJ-JL-01).fields[5].type", "未知的栏目类型"),
    ("duplicate form code", "forms.toml", 'code = "DJ-JL-02"', 'code = "DJ-JL-01"',
     "forms[1](DJ-JL-01)", "表格编号 DJ-JL-01 重复"),
]


@pytest.mark.parametrize(("what", "file", "old", "new", "key", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_library_files_are_rejected_with_file_key_and_reason(libcopy, what, file, old, new, key, reason):
    _edit(libcopy / file, old, new)
    report = load_library(libcopy)
    assert any(p.file == file and p.key == key and reason in p.reason for p in report.problems), report.problems
    # all or nothing: the other, good files are not loaded either
    assert (Document.objects.count(), RecordForm.objects.count(), LedgerEntry.objects.count()) == (0, 0, 0)
    assert report.changes == 0


def test_form_without_fields_and_toml_syntax_errors(libcopy):
    (libcopy / "forms_extra.toml").write_text('[[forms]]\ncode = "DJ-JL-77"\nversion = "A"\ntitle = "空表"\nfields = []\n', encoding="utf-8")
    (libcopy / "broken.toml").write_text('[document\nkey = "x"', encoding="utf-8")
    report = load_library(libcopy)
    reasons = {(p.file, p.key, p.reason) for p in report.problems}
    assert ("forms_extra.toml", "forms[0](DJ-JL-77).fields", "表格没有任何栏目") in reasons
    assert any(p.file == "broken.toml" and "TOML 格式错误" in p.reason and "line 1" in p.reason for p in report.problems)
    assert Document.objects.count() == 0 and RecordForm.objects.count() == 0


def test_empty_directory_is_a_problem(tmp_path):
    report = load_library(tmp_path)
    assert report.problems and "没有 .toml 文件" in report.problems[0].reason


def test_load_command_exits_1_and_names_the_problem(libcopy):
    _edit(libcopy / "cx01_branch_general_meeting.toml", 'per = "quarter"', 'per = "decade"')
    err = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("load_procedures", "--dir", str(libcopy), stderr=err)
    assert exc.value.code == 1
    text = err.getvalue()
    assert "cx01_branch_general_meeting.toml" in text and "obligations[0](branch_general_meeting).per" in text
    assert "未载入任何内容" in text


def test_changed_content_needs_a_new_version_number(libcopy):
    load_library(libcopy)
    n = LedgerEntry.objects.count()
    _edit(libcopy / "cx03_party_group_meeting.toml", "每月至少召开1次。", "每月至少召开2次。")
    report = load_library(libcopy)
    assert any(p.file == "cx03_party_group_meeting.toml" and "请提高版本号" in p.reason for p in report.problems)
    assert LedgerEntry.objects.count() == n and report.changes == 0


# --------------------------------------------------------- small hand-written library files

FORMS = '''[[forms]]
code = "DJ-JL-01"
version = "A"
title = "会议记录"
fields = [{ key = "time", label = "时间", type = "datetime" }]
'''

DOC = '''[document]
key = "review_meeting"
code = "DJ-CX-90"
title = "年度评议会程序"
kind = "procedure"
version = "{version}"
what = "{what}"

[[obligations]]
key = "yearly_review"
title = "年度评议"
form = "DJ-JL-01"
applies_to = ["branch"]
preferred_period = "Q4"
responsible = "secretary"
checker = "organization"
why = "检验一年工作成效。"
how = "对照年初计划逐项评议。"
source = "seed 001 三(二)4"
'''


def _mini(directory: Path, version: str = "1", what: str = "评议") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "forms.toml").write_text(FORMS, encoding="utf-8")
    (directory / "doc.toml").write_text(DOC.format(version=version, what=what), encoding="utf-8")
    return directory


def test_preferred_period_alone_means_once_a_year_and_5w1h_is_loaded(tmp_path):
    report = load_library(_mini(tmp_path / "lib"))
    assert not report.problems and report.created == ["DJ-JL-01 A", "DJ-CX-90 1"]
    o = Obligation.objects.get(key="yearly_review")
    assert (o.count, o.per, o.preferred_period) == (1, "year", "Q4")
    assert expected_count(o, 2026) == 1
    assert o.why == "检验一年工作成效。" and o.how == "对照年初计划逐项评议。" and o.who == ""
    assert ledger.verify().ok


def test_newer_shipped_version_replaces_a_shipped_one(tmp_path):
    lib = _mini(tmp_path / "lib")
    load_library(lib)
    doc = Document.objects.get(library_key="review_meeting")
    _mini(lib, version="2", what="评议(修订)")
    report = load_library(lib)
    assert report.updated == ["DJ-CX-90 2"] and report.offered == []
    assert doc.effective_version().label == "2" and doc.versions.get(label="1").status == VersionStatus.SUPERSEDED
    assert load_library(lib).changes == 0
    assert ledger.verify().ok


def _library_admin(username: str):
    """A 体系管理员: the standard library is theirs to revise (permission matrix)."""
    from qms import services as core
    from qms.models import Role, Unit, UnitKind

    root = Unit.objects.filter(code="LIBADM").first() or factories.unit("LIBADM", UnitKind.COMMITTEE, name="体系管理党委")
    user = factories.user(username)
    core.role_grant(actor=None, user=user, role=Role.ADMIN, unit=root, valid_from=dt.date(2020, 1, 1))
    return user


def test_newer_shipped_version_never_overwrites_a_local_revision(tmp_path):
    """The 体系管理员 revised the library document itself: the next shipped version comes as a
    draft offer; the local version stays effective; reloading changes nothing."""
    lib = _mini(tmp_path / "lib")
    load_library(lib)
    doc = Document.objects.get(library_key="review_meeting")
    people = {n: _library_admin(n) for n in ("d", "r", "a")}
    local = services.version_create(doc, actor=people["d"], label="本地-1", change_reason="本系统修订")
    services.version_update(local, actor=people["d"], what="本地内容")
    services.version_submit(local, actor=people["d"])
    services.version_review(local, actor=people["r"], password="pass-12345")
    services.version_approve(local, actor=people["a"], effective_on=timezone.localdate(), password="pass-12345")
    local.refresh_from_db()
    assert local.status == VersionStatus.EFFECTIVE
    assert load_library(lib).changes == 0  # same shipped version again: left alone (no crash, no supersede)

    _mini(lib, version="2", what="库内容 2")
    n = LedgerEntry.objects.count()
    report = load_library(lib)
    assert report.updated == [] and report.offered == ["标准文件库:DJ-CX-90 2(草稿)"]
    local.refresh_from_db()
    assert local.status == VersionStatus.EFFECTIVE and doc.effective_version() == local
    offer = doc.versions.get(library_version="2")
    assert offer.status == VersionStatus.DRAFT and offer.what == "库内容 2" and offer.obligations.count() == 1
    assert LedgerEntry.objects.filter(seq__gt=n, action="document_version.offer").count() == 1
    assert load_library(lib).changes == 0
    assert ledger.verify().ok


def test_newer_shipped_version_of_a_withdrawn_document_is_only_offered(tmp_path):
    lib = _mini(tmp_path / "lib")
    load_library(lib)
    doc = Document.objects.get(library_key="review_meeting")
    services.version_withdraw(doc.effective_version(), actor=_library_admin("admin"), reason="本单位不适用")
    assert load_library(lib).changes == 0  # the withdrawn shipped version is not resurrected
    _mini(lib, version="2", what="库内容 2")
    report = load_library(lib)
    assert report.offered == ["标准文件库:DJ-CX-90 2(草稿)"]
    assert doc.effective_version() is None
    assert doc.versions.get(library_version="2").status == VersionStatus.DRAFT


def _manual_body() -> str:
    load_library()
    return Document.objects.get(code="DJ-SC-01", owner__isnull=True).effective_version().body


@pytest.mark.django_db
def test_001_01_the_manual_states_the_three_responsibilities_as_seed_001_does():
    """001-01 (wrong citation → fixed): seed 001 三(一)1–3 — 党组(党委)书记 第一责任人, 总支书记 直接责任,
    支部书记 主体责任; the manual says so under that citation."""
    body = _manual_body()
    line = next(x for x in body.splitlines() if x.startswith("四、职责"))
    assert "党组(党委)书记履行第一责任人职责" in line and "党总支书记负直接责任" in line
    assert "党支部书记负主体责任(seed 001 三(一)1–3)" in line
    assert "支部书记具体责任" not in body and "支部书记负具体责任" not in body


@pytest.mark.django_db
def test_004_01_the_manual_states_seed_004s_wording_under_its_own_citation():
    """004-01 (wrong citation → fixed): seed 004 篇1 三 — 机关党委书记 具体责任人, 支部书记 直接责任人."""
    line = next(x for x in _manual_body().splitlines() if x.startswith("四、职责"))
    assert "seed 004 篇1 三 的表述为党组书记第一责任人、机关党委书记具体责任人、各党支部书记直接责任人" in line
