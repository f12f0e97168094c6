"""Statements PostgreSQL plans once per session (inbox.statements: PREPARE, then EXECUTE).

Over a kept connection the statements every event sends are prepared in the query that first
runs them and executed by name after. PostgreSQL keeps a prepared statement for the session,
whatever becomes of the transaction, so what the apps believe is prepared must be exactly
what the session holds: after a query that failed, after a reconnect. Where a session is not
kept (CONN_MAX_AGE 0, a pooler in transaction mode) nothing is prepared.
"""

import re

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bootwebhooks.inbox import statements
from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event

pytestmark = [pytest.mark.postgres, pytest.mark.prepared, pytest.mark.django_db(transaction=True)]


def sent_sql(client, event) -> str:
    with CaptureQueriesContext(connection) as queries:
        assert post_event(client, event).json()["status"] == "processed"
    return "; ".join(q["sql"] for q in queries.captured_queries)


def unsaved(stripe_id: str) -> WebhookEvent:
    return WebhookEvent(
        stripe_id=stripe_id, type="invoice.paid", stripe_created=timezone.now(), body="{}"
    )


def prepared_in_session() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_kept_connection_prepares_a_statement_once_then_executes_it(client, handlers):
    handlers.handles("invoice.paid")(mark_effect)
    connection.close()  # a new session

    first = sent_sql(client, make_event("invoice.paid"))
    second = sent_sql(client, make_event("invoice.paid"))

    stored = re.search(
        r'PREPARE (bootwebhooks_\d+) AS INSERT INTO "bootwebhooks_inbox_webhookevent"', first
    )
    assert stored, first
    assert "PREPARE" not in second  # each statement is planned once per session
    assert 'INSERT INTO "bootwebhooks_inbox_webhookevent"' not in second
    assert f"EXECUTE {stored[1]}(" in second
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_after_a_query_that_failed_the_session_and_the_apps_still_agree():
    """A PREPARE that ran in a query that then failed stays in the session (a rollback does
    not undo it), and one that never ran is not there: the statement is prepared again under
    a new name, so neither a duplicate name nor a missing one fails the next query."""
    WebhookEvent.objects.create(stripe_id="evt_taken", type="invoice.paid",
                                stripe_created=timezone.now(), body="{}")  # fmt: skip
    connection.close()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        # The division fails first: the PREPARE after it never runs.
        statements.send(cursor, [("SELECT 1 / 0", []), statements.insert(unsaved("evt_a"))])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        # The PREPARE runs, then its EXECUTE meets the unique key.
        statements.send(cursor, [statements.insert(unsaved("evt_taken"))])

    for stripe_id in ("evt_b", "evt_c"):
        with connection.cursor() as cursor:
            statements.send(cursor, [statements.insert(unsaved(stripe_id))])

    assert set(WebhookEvent.objects.values_list("stripe_id", flat=True)) == {
        "evt_taken", "evt_b", "evt_c"
    }  # fmt: skip
    assert len(prepared_in_session()) == 2  # the failed query's, and the one that ran


def test_a_column_changed_under_a_prepared_statement_fails_one_query_not_every_one(handlers):
    """PostgreSQL refuses to run a prepared statement whose result columns changed type, as a
    migration can change them under running workers ("cached plan must not change result
    type"). The delivery that meets it fails and Stripe delivers it again; from the next
    query on, the session's statements are prepared again, instead of every delivery failing
    until the connection is closed."""
    handlers.handles("invoice.paid")(mark_effect)
    client = Client(raise_request_exception=False)  # a 500 as Stripe gets it
    event = make_event("invoice.paid")
    assert post_event(client, event).status_code == 200  # the delivery count is prepared
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    alter = f"ALTER TABLE {table} ALTER COLUMN status TYPE varchar(%s)"
    try:
        with connection.cursor() as cursor:
            cursor.execute(alter % 40)

        answers = [post_event(client, event).status_code for _ in range(3)]
        fresh = make_event("invoice.paid")
        assert post_event(client, fresh).json()["status"] == "processed"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(alter % 16)
        connection.close()  # no later test inherits this session's statements

    assert answers == [500, 200, 200]
    assert WebhookEvent.objects.get(stripe_id=event["id"]).delivery_count == 3
    assert effects(fresh["id"]) == 1


def test_a_new_session_prepares_again(client, handlers):
    handlers.handles("invoice.paid")(mark_effect)
    sent_sql(client, make_event("invoice.paid"))
    connection.close()  # as after a database restart, or CONN_MAX_AGE running out

    event = make_event("invoice.paid")
    again = sent_sql(client, event)

    assert "PREPARE bootwebhooks_1 AS" in again
    assert effects(event["id"]) == 1


def test_a_session_prepares_at_most_its_limit_then_sends_statements_as_written():
    connection.close()
    limit = statements._Session.LIMIT
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        for n in range(limit + 2):
            found = statements.read_each(cursor, [(f"SELECT %s::integer AS n{n}", [n])])
            assert found == [[(n,)]]

    assert len(prepared_in_session()) == limit
    assert queries.captured_queries[-1]["sql"] == f"SELECT {limit + 1}::integer AS n{limit + 1}"


def test_statements_forgotten_after_a_stale_one_still_count_towards_the_limit(monkeypatch):
    """After a stale-statement error the apps forget their names and prepare anew, but the
    old PREPAREs stay in the PostgreSQL session until it ends: the limit counts every PREPARE
    sent, so the session holds no more than it however often that happens."""
    monkeypatch.setattr(statements._Session, "LIMIT", 3)
    connection.close()
    with connection.cursor() as cursor:
        for n in range(2):
            statements.read_each(cursor, [(f"SELECT %s::integer AS n{n}", [n])])
        statements._forget(cursor.db)  # as a "cached plan must not change result type" does
        for n in range(4):
            found = statements.read_each(cursor, [(f"SELECT %s::integer AS n{n}", [n])])
            assert found == [[(n,)]]

    assert len(prepared_in_session()) == 3


@pytest.mark.parametrize(
    "setting",
    [
        {"CONN_MAX_AGE": 0},  # a session per request: preparing would cost more than it saves
        {"DISABLE_SERVER_SIDE_CURSORS": True},  # Django's setting behind a transaction pooler
    ],
)
def test_nothing_is_prepared_where_the_session_is_not_kept(client, handlers, monkeypatch, setting):
    handlers.handles("invoice.paid")(mark_effect)
    for name, value in setting.items():
        monkeypatch.setitem(connection.settings_dict, name, value)

    sql = sent_sql(client, make_event("invoice.paid"))

    assert "PREPARE" not in sql and "EXECUTE" not in sql
    assert 'INSERT INTO "bootwebhooks_inbox_webhookevent"' in sql


def test_a_connection_kept_for_ever_prepares(client, handlers, monkeypatch):
    handlers.handles("invoice.paid")(mark_effect)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)  # Django: no limit
    connection.close()

    assert "PREPARE bootwebhooks_1 AS" in sent_sql(client, make_event("invoice.paid"))


def test_the_setting_turns_it_off(client, handlers, settings):
    handlers.handles("invoice.paid")(mark_effect)
    settings.WEBHOOK_PREPARED_STATEMENTS = False

    sql = sent_sql(client, make_event("invoice.paid"))

    assert "PREPARE" not in sql and "EXECUTE" not in sql
