"""The menu highlights the entry a page belongs to — the most specific one, and pages that
belong to an entry from elsewhere (考核评分 under 目标与考核, not 内部审核)."""
from __future__ import annotations

import re

import pytest

from tests.test_permissions import org  # noqa: F401  (the fixture: a committee, two branches, every role)

pytestmark = pytest.mark.django_db

ACTIVE = re.compile(r'<a href="[^"]*" class="active" aria-current="page">([^<]+)')
GROUP = re.compile(r'<details class="group active"><summary>([^<]+)')


@pytest.mark.parametrize("url, entry, group", [
    ("/audits/scoring/", "目标与考核", "体系与规则"), ("/audits/objectives/", "目标与考核", "体系与规则"),
    ("/audits/", "内部审核", "检查与改进"), ("/audits/packs/", "认证证据包", "认证"), ("/", "首页", None),
    ("/work/", "应开展事项", "执行")])
def test_the_page_highlights_its_own_menu_entry_and_group(org, client, url, entry, group):  # noqa: F811
    client.force_login(org["admin"])
    page = client.get(url).content.decode()
    assert [a.strip() for a in ACTIVE.findall(page)] == [entry]
    assert [g.strip() for g in GROUP.findall(page)] == ([group] if group else [])


def test_a_group_with_one_entry_for_the_user_is_that_entry(org, client):  # noqa: F811
    """A member sees no 认证 group (both its entries are for those who manage) and no 系统 group."""
    client.force_login(org["member"])
    page = client.get("/").content.decode()
    assert "<summary>执行" in page and "<summary>认证" not in page and "留痕台账" not in page
    assert "认证证据包" not in page
