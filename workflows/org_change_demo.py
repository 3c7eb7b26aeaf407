"""Demo step: 组织设置请示 in the demo committee — a 临时党支部 for an overseas project set up by an
approved request (the committee decided it itself: it is the new branch's 上级党组织), and a
request of 发电运行党总支 to set up a new branch waiting for the committee's 批复. Through the
services (and the ledger); a handful of rows."""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import services as core
from qms.models import Unit, UnitKind
from workflows import org_change

TEMP = {"code": "HX-L1", "name": "海外工程项目临时党支部", "kind": UnitKind.TEMP_BRANCH,
        "task": "海外电站工程项目建设(党员组织关系不转接)"}
NEW = {"code": "HX-Z1-B9", "name": "运行四值党支部", "kind": UnitKind.BRANCH}


def org_change_step(root, admin, progress=None) -> str:
    general = Unit.objects.filter(code="HX-Z1", path__startswith=root.path).first()
    if Unit.objects.filter(code=TEMP["code"]).exists() or general is None:
        return "组织设置请示:已有或没有可用的组织,未建立"
    today = timezone.localdate()
    try:
        c = org_change.request(actor=None, parent=root, kind="setup", reason="海外电站工程项目开工,项目部党员组织关系不转接,拟成立临时党支部",
                               new_units=[{**TEMP, "ends_on": today + dt.timedelta(days=300)}])
        d = core.decision_record(actor=None, unit=root, decided_by_unit=root, kind="org_setup",
                                 doc_number=f"华信党委〔{today.year}〕31号", date=today, outcome="approved",
                                 text="同意成立海外工程项目临时党支部,项目结束后撤销")
        c = org_change.answer(c, actor=None, decision=d)
        org_change.carry_out(c, actor=None, effective_on=today)
        org_change.request(actor=None, parent=general, kind="setup", reason="运行部增设运行四值,党员 8 名,拟成立党支部",
                           new_units=[NEW])
    except ValidationError as exc:
        return f"组织设置请示:未建立({'；'.join(exc.messages)})"
    return "组织设置请示:海外工程项目临时党支部已批准成立;发电运行党总支增设党支部的请示待党委批复"
