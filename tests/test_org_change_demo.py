"""The demo's 组织设置请示 step: a 临时党支部 set up by an approved request, and a request waiting."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from qms.models import Unit
from workflows.models import OrgChange, OrgChangeState
from workflows.org_change_demo import org_change_step

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_temporary_branch_set_up_by_request_and_one_request_waiting():
    call_command("demo", "--no-history", stdout=io.StringIO())
    root = Unit.objects.get(code="HX")
    assert root.founding_ref  # the committee's own founding approval, recorded directly
    summary = org_change_step(root, None)
    temp = Unit.objects.get(code="HX-L1")
    assert temp.kind == "temp_branch" and temp.ends_on and "华信党委" in temp.founding_ref
    states = sorted(OrgChange.objects.values_list("state", flat=True))
    assert states == sorted([OrgChangeState.DONE, OrgChangeState.REQUESTED])
    assert "待党委批复" in summary
    assert org_change_step(root, None).startswith("组织设置请示:已有")  # a second run adds nothing
    assert OrgChange.objects.count() == 2
