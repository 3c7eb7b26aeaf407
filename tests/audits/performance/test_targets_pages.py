"""目标分解 pages and command: the tree page with its 任务时间控制表 as each role (the unit's
secretary, a member who owns targets, someone outside → 404), the member's home-page panel, the
query count of the tree page (not growing with the number of targets), and
``manage.py targets --format json`` down to members."""
from __future__ import annotations

import io
import json
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.performance import targets as tsvc
from audits.performance.models import Target, TargetReport, TargetTask
from qms import ledger
from tests.audits.performance import test_targets
from tests.audits.performance.test_targets import Y, _add, cascade
from tests.test_crawl import foreign_words

pytestmark = pytest.mark.django_db
URL = f"/audits/targets/B1/{Y}/"
org = test_targets.org  # the fixture: small_tree with logins


def test_the_secretary_cascades_and_schedules_on_the_branch_page(org, client):
    t = cascade(org)
    client.force_login(org["sec_b1"])
    body = client.get(URL).content.decode()
    assert "设定或分解目标" in body and "任务时间控制表" in body and "党员 一支部3" in body
    assert 'class="scroll-x"' in body  # wide tables scroll sideways at 390 px
    assert foreign_words(body) == set()
    r = client.post(URL, {"action": "add", "parent": t["b1"].pk, "owner": f"member:{org['m1'][3].pk}", "title": "写心得",
                          "value": "1", "due_date": f"{Y}-11-30"})
    assert r.status_code == 302
    new = Target.objects.get(parent=t["b1"], member=org["m1"][3])
    assert (new.value, new.unit, new.measure) == (Decimal(1), org["g1"], "study_notes")
    r = client.post(URL, {"action": "task_add", "target": new.pk, "month": "3", "text": "撰写心得"}, follow=True)
    assert "已安排重点工作" in r.content.decode()
    r = client.post(URL, {"action": "amend", "target": t["own"].pk, "value": "3", "due_date": f"{Y}-06-30", "reason": "调整"},
                    follow=True)
    assert "目标已调整(留痕)" in r.content.decode() and Target.objects.get(pk=t["own"].pk).value == 3
    # the additive refusal comes back in Chinese, nothing saved
    head = ledger.head()
    r = client.post(URL, {"action": "add", "parent": t["b1"].pk, "owner": "unit:B1G2", "title": "太多", "value": "5"}, follow=True)
    assert "超过上级目标 12篇" in r.content.decode() and ledger.head() == head


def test_a_member_reports_their_own_target_and_ticks_tasks(org, client):
    t = cascade(org)
    task = tsvc.task_add(t["own"], actor=org["sec_b1"], month=2, text="撰写心得")
    client.force_login(org["owner"])
    body = client.get(URL).content.decode()
    assert "设定或分解目标" not in body and "安排月度重点工作" not in body
    assert body.count('name="action" value="report"') == 1  # only their own target
    assert foreign_words(body) == set()
    r = client.post(URL, {"action": "report", "target": t["own"].pk, "value": "2", "note": "两篇"})
    assert r.status_code == 302 and TargetReport.objects.get(target=t["own"]).value == 2
    r = client.post(URL, {"action": "task_done", "task": task.pk, "done_on": f"{Y}-02-20"})
    assert r.status_code == 302 and TargetTask.objects.get(pk=task.pk).done_on.isoformat() == f"{Y}-02-20"
    # a peer's target: refused with the reason, nothing saved
    head = ledger.head()
    r = client.post(URL, {"action": "report", "target": t["m_a"].pk, "value": "2", "note": "代填"})
    assert r.status_code == 403 and "您无权填报目标进度" in r.content.decode() and ledger.head() == head
    r = client.post(URL, {"action": "add", "parent": t["b1"].pk, "owner": f"member:{org['m1'][3].pk}", "title": "x", "value": "1"})
    assert r.status_code == 403 and ledger.head() == head


def test_someone_outside_gets_not_found(org, client):
    t = cascade(org)
    client.force_login(org["sec_b2"])
    assert client.get(URL).status_code == 404
    assert client.get(f"/audits/targets/C/{Y}/").status_code == 404
    assert client.get(f"/audits/targets/B2/{Y}/").status_code == 200
    head = ledger.head()
    r = client.post(URL, {"action": "report", "target": t["own"].pk, "value": "9", "note": "越权"})
    assert r.status_code == 404 and ledger.head() == head
    assert client.get("/audits/targets/B2/1800/").status_code == 404
    client.logout()
    assert "/login/" in client.get(URL)["Location"]


def test_the_grid_marks_planned_done_and_overdue(org, client):
    t = cascade(org)
    done = tsvc.task_add(t["b1"], actor=org["sec_b1"], month=1, text="一月部署")
    tsvc.task_done(done, actor=org["sec_b1"], done_on=timezone.localdate().replace(month=1, day=15))
    tsvc.task_add(t["b1"], actor=org["sec_b1"], month=2, text="二月落实")
    tsvc.task_add(t["b1"], actor=org["sec_b1"], month=12, text="年终总结")
    client.force_login(org["admin"])
    body = client.get(URL).content.decode()
    assert foreign_words(body) == set()
    grid = body.split("任务时间控制表", 1)[1]
    rows = {re.search(r"<td>[^<]*</td><td>([^<]+)<br>", tr).group(1): tr for tr in grid.split("<tr>")[2:] if "<br>" in tr}
    assert ">✓</td>" in rows["一月部署"] and 'class="bad"' in rows["二月落实"] and ">✗</td>" in rows["二月落实"]
    assert ">■</td>" in rows["年终总结"] and 'class="bad"' not in rows["年终总结"]


def test_home_page_shows_the_members_targets_and_this_months_tasks(org, client):
    cascade(org)
    v = _add(org, org["b1"], 5, measure="volunteer", actor=org["sec_b1"])
    mine = _add(org, org["m1"][0], 2, v, measure="volunteer", actor=org["sec_b1"], title="参加志愿服务")
    month = timezone.localdate().month
    tsvc.task_add(mine, actor=org["sec_b1"], month=month, text="本月走访社区")
    tsvc.task_add(mine, actor=org["sec_b1"], month=12 if month != 12 else 11, text="别的月份")
    client.force_login(org["owner"])
    body = client.get("/").content.decode()
    assert f"我的 {Y} 年目标和本月重点工作" in body and "参加志愿服务" in body and "本月重点:本月走访社区" in body
    assert "别的月份" not in body
    client.force_login(org["peer"])
    assert "参加志愿服务" not in client.get("/").content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_tree_page_queries_do_not_grow_with_targets(org, client):
    cascade(org)
    client.force_login(org["admin"])
    _queries(client, f"/audits/targets/C/{Y}/")
    first = _queries(client, f"/audits/targets/C/{Y}/")
    c = _add(org, org["committee"], 40, measure="volunteer")
    for unit in ("general", "b1", "b2", "g1", "g2"):
        node = _add(org, org[unit], 4, c, measure="volunteer")
        tsvc.task_add(node, actor=org["admin"], month=3, text="活动")
        tsvc.target_report(node, actor=org["admin"], value="1", note="一次")
    assert Target.objects.count() == 14
    assert _queries(client, f"/audits/targets/C/{Y}/") == first <= 30


def test_the_command_prints_the_tree_down_to_members(org):
    t = cascade(org)
    tsvc.target_report(t["m_a"], actor=org["peer"], value="2", note="两篇")
    tsvc.target_report(t["own"], actor=org["owner"], value="4", note="四篇")
    tsvc.task_add(t["own"], actor=org["sec_b1"], month=3, text="撰写心得")
    out = io.StringIO()
    call_command("targets", unit="C", year=Y, format="json", stdout=out)
    data = json.loads(out.getvalue())
    assert (data["unit"], data["year"], len(data["targets"])) == ("C", Y, 1)
    c = data["targets"][0]
    assert (c["owner"], c["target"], c["progress"], c["how"]) == ("测试党委", 20.0, 6.0, "下级合计")
    b1 = next(x for x in c["children"][0]["children"] if x["unit"] == "B1")
    owners = {x["owner"]: x for x in b1["children"]}
    assert set(owners) == {"第一党小组", "一支部0"} and owners["一支部0"]["owner_kind"] == "member"
    assert owners["一支部0"]["tasks"] == [{"month": 3, "text": "撰写心得", "state": "overdue" if timezone.localdate().month > 3 else "planned",
                                           "done_on": None}]
    assert [m["progress"] for m in owners["第一党小组"]["children"]] == [2.0, None]
    with pytest.raises(Exception, match="没有编码为 NOPE 的党组织"):
        call_command("targets", unit="NOPE", year=Y, format="json", stdout=io.StringIO())
