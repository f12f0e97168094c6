"""The statements a test captured (`CaptureQueriesContext`), as they are written.

On PostgreSQL over a kept connection, inbox.statements prepares what every event sends: a
query then holds `PREPARE name AS <statement>` the first time and `EXECUTE name(...)` after.
Tests that look for a statement read them here, each EXECUTE shown as the statement it runs
(read from PostgreSQL's own `pg_prepared_statements`), the PREPAREs left out.
"""

import re

from django.db import connection

_EXECUTE = re.compile(r"EXECUTE (bootwebhooks_\d+)\(")


def statements(queries: list[dict]) -> list[str]:
    """Every statement of the captured `queries`, in order, as written."""
    sent = [part for query in queries for part in query["sql"].split("; ")]
    prepared = _prepared() if any(_EXECUTE.match(part) for part in sent) else {}
    return [
        prepared[found[1]] if (found := _EXECUTE.match(part)) else part
        for part in sent
        if not part.startswith("PREPARE bootwebhooks_")
    ]


def _prepared() -> dict[str, str]:
    """Each prepared statement's text. PostgreSQL keeps the whole query that prepared it,
    other statements included: the statement is what follows its `PREPARE name AS`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return {
            name: text.split(f"PREPARE {name} AS ", 1)[1].split("; ", 1)[0]
            for name, text in cursor.fetchall()
        }
