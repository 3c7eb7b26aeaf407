"""The demo committee's 方针目标 cascaded to its 总支, branches, groups and members, with monthly
重点工作 (some done) — and the demo member sees theirs on the home page."""
from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from audits.performance import targets as tsvc
from audits.performance.models import Target, TargetTask
from qms import ledger
from qms.models import Unit

pytestmark = pytest.mark.django_db


def test_the_demo_cascades_targets_down_to_members(client):
    out = io.StringIO()
    call_command("demo", "--no-history", stdout=out)  # the organisation; the step runs here alone (fast)
    from audits.demo import targets_step

    summary = targets_step(Unit.objects.get(code="HX"), User.objects.get(username="admin"))
    assert "党员个人目标 3 项" in summary
    year = timezone.localdate().year
    root = Unit.objects.get(code="HX")
    kinds = set(Target.objects.filter(year=year).values_list("unit__kind", flat=True))
    assert {"committee", "general_branch", "branch", "group"} <= kinds
    assert Target.objects.filter(year=year, member__isnull=False).count() == 3
    assert TargetTask.objects.filter(done_on__isnull=False).exists() or timezone.localdate().month == 1
    roots = tsvc.tree(root, year)
    study = next(n for n in roots if n.target.measure == "study_notes")
    assert study.how == "下级合计" and study.progress is not None
    assert max(n.depth for n in study.walk()) == 4  # 党委 → 总支 → 支部 → 党小组 → 党员
    client.force_login(User.objects.get(username="dangyuan"))
    body = client.get("/").content.decode()
    assert f"我的 {year} 年目标和本月重点工作" in body and "个人撰写学习心得体会" in body
    page = client.get(f"/audits/targets/HX-Z1-B1/{year}/")
    assert page.status_code == 200 and "任务时间控制表" in page.content.decode()
    assert ledger.verify().ok
