"""Crashes and outages: a 2xx is never sent for an event that is not stored, nothing half-done
survives a crash, and the next delivery finishes the job."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import TEST_SECRET, make_event, post_event, signature_header

ROOT = Path(__file__).resolve().parents[2]

CRASH_MID_TRANSACTION = """
import os, sys, django
django.setup()
from django.contrib.auth.models import Group
from bootwebhooks.inbox import dispatch, ingest
from bootwebhooks.inbox.registry import Registry

registry = Registry()

@registry.handles("invoice.paid")
def write_then_die(event):
    Group.objects.create(name=event.stripe_id + ":effect:crash")
    os._exit(9)  # the process dies with the transaction open

dispatch.registry = ingest.registry = registry
ingest.deliver(
    ingest.Delivery.verify(sys.stdin.buffer.read(), {"Stripe-Signature": os.environ["SIGNATURE"]})
)
"""

POST_WITH_DATABASE_DOWN = """
import json, os, sys, django
django.setup()
from django.test import Client
body = sys.stdin.buffer.read()
for header in (os.environ["SIGNATURE"], "t=1,v1=00"):
    response = Client().post("/webhooks/stripe/", body, content_type="application/json",
                             HTTP_STRIPE_SIGNATURE=header)
    print(json.dumps([response.status_code, response.json()]))
health = Client().get("/healthz")
print(json.dumps([health.status_code, health.json()]))
"""


def run_django(
    script: str, body: bytes, database_url: str, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **extra_env,
        "DJANGO_SETTINGS_MODULE": "bootwebhooks.settings",
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRETS": TEST_SECRET,
        "STRIPE_LIVEMODE": "0",  # make_event's events are test-mode ones
        "SIGNATURE": signature_header(body),
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    return subprocess.run(
        [sys.executable, "-c", script], input=body, cwd=ROOT, env=env, capture_output=True
    )


def test_database_unreachable_is_a_503_never_a_2xx():
    body = json.dumps(make_event("invoice.paid")).encode()
    result = run_django(POST_WITH_DATABASE_DOWN, body, "postgres://nobody@127.0.0.1:1/none")
    assert result.returncode == 0, result.stderr.decode()
    valid, forged, health = (json.loads(line) for line in result.stdout.decode().splitlines())
    assert valid == [503, {"error": "database unavailable, retry later"}]
    assert forged[0] == 400  # a bad signature never needed the database
    assert health == [503, {"status": "unhealthy", "reason": "the database did not answer"}]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_transaction_leaves_the_event_stored_and_nothing_applied(handlers):
    event = make_event("invoice.paid")
    body = json.dumps(event).encode()
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"

    result = run_django(CRASH_MID_TRANSACTION, body, url)

    assert result.returncode == 9, result.stderr.decode()
    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert stored.status == WebhookEvent.Status.PENDING  # recorded durably before processing
    assert stored.attempts.count() == 0
    assert effects(event["id"], "effect") == 0  # the write died with its transaction

    handlers.handles("invoice.paid")(mark_effect)
    response = post_event(Client(), event)  # Stripe's retry

    assert response.json() == {"id": event["id"], "status": "processed"}
    assert effects(event["id"]) == 1
    assert WebhookEvent.objects.get().delivery_count == 2


SESSION_ENDED_BETWEEN_DELIVERIES = """
import io, json, os, sys, django
django.setup()
import psycopg
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

app = WSGIHandler()  # the real request cycle: Django closes a broken connection after it

def post(body):
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/webhooks/stripe/", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_STRIPE_SIGNATURE": os.environ["SIGNATURE"], "HTTP_HOST": "testserver",
    }
    status = []
    answer = b"".join(app(environ, lambda s, h: status.append(s)))
    return [int(status[0].split()[0]), json.loads(answer)]

body = sys.stdin.buffer.read()
print(json.dumps(post(body)))
pid = connection.connection.info.backend_pid  # kept: DATABASE_CONN_MAX_AGE's default
with psycopg.connect(os.environ["ADMIN_URL"], autocommit=True) as admin:
    admin.execute("SELECT pg_terminate_backend(%s)", [pid])  # a restart, as the worker sees it
print(json.dumps(post(body)))
print(json.dumps(post(body)))
"""


def deliver_three_times_ending_the_session_after_the_first(event: dict, **env: str) -> list:
    """The answers to three deliveries of `event` by one Django process (the demo's settings,
    plus `env`) whose database session the server ends after the first."""
    body = json.dumps(event).encode()
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    os.environ["ADMIN_URL"] = url.replace("postgres://", "postgresql://")
    try:
        result = run_django(SESSION_ENDED_BETWEEN_DELIVERIES, body, url, **env)
    finally:
        del os.environ["ADMIN_URL"]
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_the_database_ends_a_session_one_delivery_gets_503_and_the_next_is_served():
    """Without connection health checks (the default), a worker's first query on a session the
    server ended fails: that delivery is a 503, which Stripe retries, and Django reconnects."""
    event = make_event("customer.created")

    first, after_end, retry = deliver_three_times_ending_the_session_after_the_first(event)

    assert first == [200, {"id": event["id"], "status": "ignored"}]
    assert after_end == [503, {"error": "database unavailable, retry later"}]
    assert retry == [200, {"id": event["id"], "status": "ignored"}]
    assert WebhookEvent.objects.get().delivery_count == 2  # the 503 counted nothing


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_connection_health_checks_a_session_the_database_ended_costs_no_503():
    """DATABASE_CONN_HEALTH_CHECKS=1: Django pings a reused connection before a request's first
    query and reconnects if the ping fails, so the delivery after the session ended is served."""
    event = make_event("customer.created")

    answers = deliver_three_times_ending_the_session_after_the_first(
        event, DATABASE_CONN_HEALTH_CHECKS="1"
    )

    assert answers == [[200, {"id": event["id"], "status": "ignored"}]] * 3
    assert WebhookEvent.objects.get().delivery_count == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", ["raises", "breaks the transaction"])
def test_a_failing_handler_in_the_webhooks_own_transaction_leaves_no_effect(handlers, failure):
    """The webhook's dispatch runs handlers without a savepoint: a failure rolls back the whole
    transaction, and the failure is recorded in a new one."""

    broken = [True]

    @handlers.handles("invoice.paid")
    def half_done(event):
        mark_effect(event)
        if not broken[0]:
            return
        if failure == "raises":
            raise RuntimeError("card network down")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # PostgreSQL aborts the transaction

    event = make_event("invoice.paid")
    response = post_event(Client(), event)

    assert response.status_code == 500
    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert stored.status == "failed"
    attempt = stored.attempts.get()
    assert attempt.outcome == "failed"
    assert ("RuntimeError: card network down" if failure == "raises" else "division by zero") in (
        attempt.error
    )
    assert "Traceback" in attempt.traceback
    assert effects(event["id"]) == 0

    broken[0] = False
    assert post_event(Client(), event).json()["status"] == "processed"  # Stripe's retry
    assert effects(event["id"]) == 1
