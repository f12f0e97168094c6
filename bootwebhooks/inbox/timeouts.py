"""Bounded waits: how long the webhook's and workers' statements may wait for a lock, or run.

Without a bound, a row locked elsewhere (a long admin action, a stuck worker) held every
delivery for that customer until gunicorn killed the worker: a 500 after 30 s, workers used
up, `/healthz` unanswered. With one, a statement gives up after WEBHOOK_LOCK_TIMEOUT seconds of
waiting for a lock or WEBHOOK_STATEMENT_TIMEOUT seconds of running; its transaction rolls back,
the event stays stored and not final, and the webhook answers 503, so Stripe delivers it again
later (`dispatch.is_lock_conflict` tells such a failure from the event's own).

PostgreSQL only: SQLite has no row locks (its busy timeout is the connection's `timeout`). The
settings are SET LOCAL, for one transaction, so nothing leaks to the next user of a connection
in a transaction-mode pool. With server-side binding (the `server_side_binding` option) a query
holds one statement: a transaction's bounds then cost a round trip of their own, and a
statement outside any transaction (storing a new event) runs unbounded.
"""

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import statements as sql_statements


def local_settings(db: Any = None) -> Sequence[sql_statements.Statement]:
    """The SET LOCAL statements that bound a transaction on `db` (the default connection
    unless given); none off PostgreSQL."""
    if (db if db is not None else connection).vendor != "postgresql":
        return ()
    return _bounds(*_seconds())


def _seconds() -> tuple[float, float]:
    return app_settings.WEBHOOK_LOCK_TIMEOUT, app_settings.WEBHOOK_STATEMENT_TIMEOUT


@functools.lru_cache(maxsize=8)
def _bounds(lock: float, statement: float) -> tuple[sql_statements.Statement, ...]:
    """The SET LOCALs for these timeouts, as statements to send: made once, as every
    delivery sends them."""
    return tuple(
        (f"SET LOCAL {name} = {int(seconds * 1000)}", ())
        for name, seconds in (("lock_timeout", lock), ("statement_timeout", statement))
    )


def bound_transaction() -> None:
    """Bound the rest of the current transaction (one round trip)."""
    bounds = local_settings()
    if bounds:
        with connection.cursor() as cursor:
            sql_statements.send(cursor, bounds)


def riding_bounds(db: Any = None) -> Sequence[sql_statements.Statement]:
    """The bounds, to send ahead of one statement in its query (`statements.send`): outside a
    transaction they hold for that statement alone, inside one until it ends. `bounded` for a
    single statement, without wrapping every query the block runs (which cost a duplicate
    delivery about a twelfth of its CPU). None where they cannot ride along: off PostgreSQL, or
    outside a transaction with server-side binding (one statement a query). On `db`, the
    default connection's wrapper unless given."""
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]  # once: each look-up through `connection` costs as much
    if not db.in_atomic_block and sql_statements.batching(db) == sql_statements.ONE_BY_ONE:
        return ()
    return local_settings(db)


@contextmanager
def bounded() -> Iterator[None]:
    """Bound the statements this block runs, at no extra round trip.

    The SET LOCALs are sent in the same query as a statement. Outside a transaction that is
    every statement: PostgreSQL runs such a query as one implicit transaction, so they hold
    for that statement only. Inside one, the first statement is enough: they hold until the
    transaction ends. The cursor is moved past their (empty) results, so the caller reads its
    own statement's as usual.
    """
    statements = local_settings()
    if not statements:
        yield
        return
    prefix = "".join(f"{setting}; " for setting, _ in statements)
    bounded_transaction = False

    def bound(execute, sql, params, many, context):
        nonlocal bounded_transaction
        if many or bounded_transaction:
            return execute(sql, params, many, context)
        bounded_transaction = connection.in_atomic_block
        batching = sql_statements.batching()
        if batching == sql_statements.ONE_BY_ONE:
            if bounded_transaction:
                for setting, _ in statements:
                    context["cursor"].execute(setting)
            return execute(sql, params, many, context)
        result = execute(prefix + sql, params, many, context)
        if batching == sql_statements.EACH_RESULT:
            for _ in statements:
                context["cursor"].nextset()
        return result

    with connection.execute_wrapper(bound):
        yield
