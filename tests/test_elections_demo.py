"""The demo's 换届选举 step: one election in progress in the demo committee, waiting for its 党员大会."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from procedures.library_loader import load_library
from qms.models import Unit
from workflows.election_demo import UNIT_CODE, election_step
from workflows.models import Election, ElectionState
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db


def test_the_demo_has_one_election_in_progress():
    call_command("demo", "--no-history", stdout=io.StringIO())
    load_library()
    schedule()
    root = Unit.objects.get(code="HX")
    summary = election_step(root, None)
    e = Election.objects.get()
    assert e.unit.code == UNIT_CODE and e.state == ElectionState.REQUESTED
    assert e.candidates.count() == e.seats + 1 and e.request_decision.decided_by_unit == root
    assert "待召开党员大会选举" in summary
    assert election_step(root, None).startswith("换届选举:未建立")  # a second run adds nothing
    assert Election.objects.count() == 1
