"""`pytest -p tests.psycopg2_driver`: the suite on psycopg2, Django's other PostgreSQL driver.

Many sites still run psycopg2, and the apps must work there too: it keeps only the last
result of a query holding several statements, and its errors carry `pgcode`, not `sqlstate`.
Loaded before Django, this hides psycopg 3 from the test process, so Django picks psycopg2.
Subprocesses the tests start keep psycopg 3.
"""

import importlib.abc
import sys


class _HidePsycopg3(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "psycopg" or name.startswith(("psycopg.", "psycopg_")):
            raise ImportError(f"psycopg 3 hidden by {__name__}")


sys.meta_path.insert(0, _HidePsycopg3())


def pytest_report_header(config):
    import psycopg2

    return f"PostgreSQL driver: psycopg2 {psycopg2.__version__} (psycopg 3 hidden)"
