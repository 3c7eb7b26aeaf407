"""The shipped standard library: loads cleanly, idempotently, every rule cited; bad files
are rejected with file, key and reason, and nothing is loaded (issue 3)."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from procedures.library_loader import LIBRARY_DIR, load_library, validate_library
from procedures.models import Document, DocumentVersion, Obligation, RecordForm, VersionStatus
from qms import ledger
from qms.models import LedgerEntry

pytestmark = pytest.mark.django_db

REQUIRED_PROCEDURES = [
    "支部党员大会", "支部委员会", "党小组会", "党课", "主题党日", "组织生活会", "民主评议党员", "谈心谈话", "党费",
    "组织关系转接", "换届选举", "在职党员进社区", "党务公开", "机关党委、党总支会议与督导检查", "民主生活会",
    "思想动态分析会", "发展党员", "党务干部培训", "述职评议考核", "文件控制", "记录控制", "内部审核", "不符合项控制",
    "纠正措施", "管理评审", "党建工作手册",
]


def test_library_validates_and_covers_every_required_procedure():
    problems, forms, documents = validate_library()
    assert problems == []
    titles = " ".join(d["title"] for d in documents)
    for name in REQUIRED_PROCEDURES:
        assert name in titles, name
    for d in documents:
        for o in d["obligations"]:
            assert o["source"].strip(), (d["code"], o["key"])


def test_load_is_idempotent_and_ledgered():
    out = io.StringIO()
    call_command("load_procedures", stdout=out)
    assert "载入完成" in out.getvalue()
    n_docs, n_entries = Document.objects.count(), LedgerEntry.objects.count()
    assert n_docs >= 26 and RecordForm.objects.count() >= 10
    assert not Obligation.objects.filter(source="").exists()
    assert DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE).count() == n_docs
    report = load_library()
    assert report.changes == 0 and report.unchanged > 0 and not report.problems
    assert (Document.objects.count(), LedgerEntry.objects.count()) == (n_docs, n_entries)
    assert ledger.verify().ok


def test_default_meeting_form_has_the_seed_elements_required():
    load_library()
    form = RecordForm.objects.get(code="DJ-JL-01")
    labels = [f.label for f in form.fields.filter(required=True)]
    assert labels == ["时间", "地点", "主题", "出席、缺席、列席人员", "发言内容", "表决情况", "决议分工落实情况"]
    assert "001 三(二)2" in form.source


def test_frequencies_as_data():
    load_library()
    by_key = {o.key: o for o in Obligation.objects.all()}
    assert by_key["branch_committee_meeting"].expected_per_year() == 12
    assert by_key["branch_general_meeting"].expected_per_year() == 4
    assert by_key["oath_party_day"].before == "07-01"
    assert by_key["organization_life_meeting"].preferred_period == "Q4"
    assert by_key["special_organization_life_meeting"].event == "serious_discipline_case"
    assert by_key["talk_retirement"].expected_per_year() == 0


@pytest.fixture
def libcopy(tmp_path) -> Path:
    dst = tmp_path / "lib"
    shutil.copytree(LIBRARY_DIR, dst)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(("file", "old", "new", "key", "reason"), [
    ("cx01_branch_general_meeting.toml", 'grace_days = 0', 'grace_days = 0\ncolour = "red"', "obligations[0](branch_general_meeting).colour", "未知字段"),
    ("cx01_branch_general_meeting.toml", 'per = "quarter"', 'per = "fortnight"', "obligations[0](branch_general_meeting).per", "频次单位“fortnight”无效"),
    ("cx03_party_group_meeting.toml", 'count = 1\nper = "month"\n', '', "obligations[0](party_group_meeting)", "没有频次"),
    ("cx05_theme_party_day.toml", 'before = "07-01"', 'before = "13-40"', "obligations[1](oath_party_day).before", "无效"),
    ("cx02_branch_committee_meeting.toml", 'form = "DJ-JL-01"', 'form = "DJ-JL-99"', "obligations[0](branch_committee_meeting).form", "DJ-JL-99 不存在"),
    ("cx02_branch_committee_meeting.toml", 'code = "DJ-CX-02"', 'code = "DJ-CX-01"', "document", "文件编号 DJ-CX-01"),
    ("cx04_party_lecture.toml", 'source = "domain.md §3:支部书记每年至少讲2次党课"', 'source = " "', "obligations[1](secretary_lecture).source", "必须注明依据"),
    ("cx08_heart_to_heart_talks.toml", 'event = "hardship"', 'event = "birthday"', "obligations[4](talk_hardship).event", "未知的触发事件"),
    ("cx01_branch_general_meeting.toml", 'responsible = "secretary"', 'responsible = "boss"', "obligations[0](branch_general_meeting).responsible", "未知的职务"),
])
def test_bad_library_files_are_rejected_with_file_key_and_reason(libcopy, file, old, new, key, reason):
    _edit(libcopy / file, old, new)
    report = load_library(libcopy)
    assert any(p.file == file and p.key == key and reason in p.reason for p in report.problems), report.problems
    assert Document.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_form_without_fields_and_toml_syntax_errors(libcopy):
    (libcopy / "forms_extra.toml").write_text('[[forms]]\ncode = "DJ-JL-77"\nversion = "A"\ntitle = "空表"\nfields = []\n', encoding="utf-8")
    (libcopy / "broken.toml").write_text('[document\nkey = "x"', encoding="utf-8")
    report = load_library(libcopy)
    reasons = {(p.file, p.reason.split(":")[0]) for p in report.problems}
    assert ("forms_extra.toml", "表格没有任何栏目") in reasons
    assert any(p.file == "broken.toml" and "TOML 格式错误" in p.reason and "line 1" in p.reason for p in report.problems)
    assert Document.objects.count() == 0


def test_load_command_exits_1_and_names_the_problem(libcopy):
    _edit(libcopy / "cx01_branch_general_meeting.toml", 'per = "quarter"', 'per = "decade"')
    err = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("load_procedures", "--dir", str(libcopy), stderr=err)
    assert exc.value.code == 1
    assert "cx01_branch_general_meeting.toml" in err.getvalue() and "未载入任何内容" in err.getvalue()


def test_changed_content_needs_a_new_version_number(libcopy):
    load_library(libcopy)
    n = LedgerEntry.objects.count()
    _edit(libcopy / "cx03_party_group_meeting.toml", "每月至少召开1次。", "每月至少召开2次。")
    report = load_library(libcopy)
    assert any("请提高版本号" in p.reason for p in report.problems)
    assert LedgerEntry.objects.count() == n
