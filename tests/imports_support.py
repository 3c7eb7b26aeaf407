"""What the tests of the staged imports share (the roster, the unit tree, positions, past
meetings): the people who import on the small tree (``factories.small_tree``), an office's own
sheet, a file kept and previewed through an import's steps, and the pages' upload → preview.

A test module takes the fixtures by importing them:
``from tests.imports_support import admin, secretary  # noqa: F401  (fixtures)``."""
from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from qms import services
from qms.models import Member, Role, Unit
from qms.staged_import import Steps
from tests import factories


def account(member: Member, login: str) -> User:
    """A login for ``member`` (a person of the roll with an account, no role of its own)."""
    user = factories.user(login)
    services.member_update(member, actor=None, reason="开通账号", user=user)
    return user


def make_admin(committee: Unit) -> User:
    """A 体系管理员 over ``committee`` since 2020."""
    user = factories.user("adm")
    services.role_grant(actor=None, user=user, role=Role.ADMIN, unit=committee, valid_from=dt.date(2020, 1, 1))
    return user


@pytest.fixture
def admin(tree) -> User:
    """The 体系管理员 of 测试党委: may import for every organisation of the tree."""
    return make_admin(tree["committee"])


@pytest.fixture
def secretary(tree) -> User:
    """The 书记 of 第一党支部 (its first member, appointed 2024-01-01): imports for that branch only."""
    user = account(tree["m1"][0], "sec1")
    services.position_assign(actor=None, member=tree["m1"][0], unit=tree["b1"], title="secretary",
                             start=dt.date(2024, 1, 1))
    return user


def office_sheet(rows: Iterable[Sequence[Any]], head: Sequence[str], *, title: str, note: str = "") -> bytes:
    """A workbook as an office lays it out: a title row, the header, the rows numbered from 1
    (the first column, 序号), and a note below."""
    wb = Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(list(head))
    for i, r in enumerate(rows, start=1):
        ws.append([i, *r])
    if note:
        ws.append([note])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def staged(steps: Steps, data: bytes, actor, *, filename: str = "") -> tuple[str, Any]:
    """``data`` kept on the server by ``actor`` through an import's steps, and its preview:
    the token and the result."""
    token = steps.stage(io.BytesIO(data), actor=actor, filename=filename).token
    return token, steps.preview(token, actor=actor)[1]


def upload_page(client, url_name: str, data: bytes, filename: str) -> tuple[str, str, str]:
    """``data`` uploaded on the page ``url_name`` (answered by a redirect to its preview): the
    preview page's text, and the token and fingerprint its confirm form posts ("" without one)."""
    r = client.post(reverse(url_name), {"file": SimpleUploadedFile(filename, data)})
    assert r.status_code == 302, r.status_code
    body = client.get(r["Location"]).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', body)
    seen = re.search(r'name="seen" value="([0-9a-f]+)"', body)
    return body, token[1] if token else "", seen[1] if seen else ""
