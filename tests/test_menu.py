"""The menu highlights the entry a page belongs to — the most specific one, and pages that
belong to an entry from elsewhere (考核评分 under 目标与考核, not 内部审核)."""
from __future__ import annotations

import re

import pytest

from tests.test_permissions import org  # noqa: F401  (the fixture: a committee, two branches, every role)

pytestmark = pytest.mark.django_db

ACTIVE = re.compile(r'<a href="[^"]*" class="active">([^<]+)')


@pytest.mark.parametrize("url, entry", [("/audits/scoring/", "目标与考核"), ("/audits/objectives/", "目标与考核"),
                                        ("/audits/", "内部审核"), ("/audits/packs/", "认证证据包"), ("/", "首页"),
                                        ("/work/", "应开展事项")])
def test_the_page_highlights_its_own_menu_entry(org, client, url, entry):  # noqa: F811
    client.force_login(org["admin"])
    page = client.get(url).content.decode()
    assert [a.strip() for a in ACTIVE.findall(page)] == [entry]
