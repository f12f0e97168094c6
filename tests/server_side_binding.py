"""`pytest -p tests.server_side_binding`: the suite with psycopg 3's server-side binding.

A site may set `OPTIONS={"server_side_binding": True}` for prepared statements; a query then
holds one statement, and the apps must send theirs one by one (inbox.statements).
"""

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    from django.conf import settings

    settings.DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True


def pytest_report_header(config):
    return "PostgreSQL: psycopg 3 with server-side binding"
