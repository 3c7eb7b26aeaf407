"""Shared fixtures. Services needing PostgreSQL/Redis skip on SQLite, but never with CI=true."""
from __future__ import annotations

import os

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from tests import factories

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_postgres():
    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("CI=true 时必须使用 PostgreSQL 运行本测试(设置 DATABASE_URL)")
        pytest.skip("需要 PostgreSQL(设置 DATABASE_URL 后运行)")


def _allow_owner_truncate(sender, connection, **kwargs):
    """Transactional tests end with a TRUNCATE of every table; on PostgreSQL the ledger's
    trigger refuses it unless the table owner opts in for the session (migration 0002).
    Tests that check the refusal RESET the setting first."""
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SET qms.ledger_truncate = 'on'")


connection_created.connect(_allow_owner_truncate)


@pytest.fixture
def tree(db):
    return factories.small_tree()
