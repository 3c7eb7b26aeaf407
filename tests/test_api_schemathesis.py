"""Schemathesis over the REST API's own schema (/api/schema/): the app served on loopback
(pytest-django's ``live_server``) with tests/test_permissions.py's organisation and a read-write
token of 第一党支部's secretary; every operation is tried with generated valid and invalid
input (a few examples each, to stay within about a minute). No answer may be a server error,
and every answer must conform to the schema: a documented status, JSON, the documented body.

Run alone: ``pytest -q tests/test_api_schemathesis.py`` (the figures go in the JSON report)."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from api import tokens
from audits.evidence import services as packs
from qms.models import Member, Position
from tests.test_permissions import build_org
from tests.test_permissions_web import _recorded
from workflows.models import Record

pytestmark = [pytest.mark.api_fuzz, pytest.mark.django_db(transaction=True)]

TODAY = timezone.localdate()

#: the checks that matter here: no 5xx, and the answer is what the schema says
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
#: examples per operation: about a minute for the whole API on a CI machine
EXAMPLES = int(os.environ.get("QMS_API_FUZZ_EXAMPLES", "4"))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_server, tmp_path):
    org = build_org()
    secret = tokens.token_create_personal(actor=org["sec_b1"], name="测试", write=True).secret
    # the path ids of 第一党支部's objects, so the generated input reaches each operation's logic
    # (a random id is only a 404); other parameters and the bodies are generated
    occ = _recorded(org)
    ids = {"occurrences": occ.pk, "records": Record.objects.get(occurrence=occ).pk, "nonconformities": org["nc"].pk,
           "members": Member.objects.get(user=org["member"]).pk, "units": org["b1"].pk,
           "positions": Position.objects.filter(unit=org["b1"]).first().pk,
           "packs": packs.pack_request(actor=org["sec_b1"], root=org["b1"], start=dt.date(TODAY.year, 1, 1), end=TODAY,
                                       enqueue=False).pk}
    config = tmp_path / "schemathesis.toml"
    # for CI time (about a minute): the coverage phase sends the boundary and invalid values of every
    # parameter and body field (negative), the fuzzing phase EXAMPLES generated cases of both kinds
    # per operation; methods no operation has (405) are tried in tests/test_api.py
    config.write_text('[phases.coverage]\nunexpected-methods = []\n\n[phases.coverage.generation]\nmode = "negative"\n\n'
                      + "".join(f'[[operations]]\ninclude-path-regex = "^/api/v1/{name}/\\\\{{id\\\\}}"\n'
                              f'parameters = {{ "path.id" = {pk} }}\n\n' for name, pk in ids.items()))
    report = tmp_path / "report.json"
    st = Path(sys.executable).with_name("st")
    cmd = [str(st), "--config-file", str(config), "run", f"{live_server.url}/api/schema/", "-H", f"Authorization: Bearer {secret}",
           "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", "20261207", "--generation-database", "none",
           "--phases", "examples,coverage,fuzzing", "--request-timeout", "20", "--no-color",
           "--report", "ndjson", "--report-ndjson-path", str(report)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    (Path(os.environ.get("QMS_API_FUZZ_LOG", tmp_path / "st.log"))).write_text(out.stdout + out.stderr)
    summary = out.stdout[-4000:]
    assert out.returncode == 0, f"schemathesis found problems:\n{out.stdout[-12000:]}\n{out.stderr[-2000:]}"
    assert "API Operations" in summary or "operations" in summary.lower(), summary
    # the figures (operations, test cases) for docs/reliability.md, printed with -s
    print(summary)
    events = [json.loads(line) for line in report.read_text().splitlines() if line.strip()] if report.exists() else []
    assert events, "schemathesis wrote no events"
