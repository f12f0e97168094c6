"""Generated hostile fields through the webhook and the import (Hypothesis).

Real event fixtures get fields replaced by what a payload can hold and a database may not:
control characters and NUL, lone surrogates, text that grows when lowercased ("İ"), huge and
deeply nested values, wrong types, in the places the code reads (emails, ids, metadata,
statuses, currencies, the envelope). The properties:

- the webhook never answers a 5xx for an event it did not store (Stripe retries a non-2xx
  delivery, docs.stripe.com/webhooks#retries, but a refused INSERT would fail every retry);
  a 2xx or 5xx answer means the event is stored, a 400 that nothing is;
- a stored event keeps its payload byte for byte;
- the import ends with a summary or a one-line CommandError, never any other exception, and
  stores exactly the items the webhook would have accepted.
"""

import io
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootwebhooks.inbox.exceptions import WebhookRejected
from bootwebhooks.inbox.ingest import parse_event
from bootwebhooks.inbox.models import WebhookEvent
from tests.stripe_events import load_event
from tests.webhooks import post_event

pytestmark = pytest.mark.django_db
_serial = itertools.count(1)

FIXTURES = [
    "invoice_paid",
    "invoice_payment_failed__legacy",
    "checkout_session_completed",
    "checkout_session_completed__payment",
    "customer_subscription_updated",
    "charge_refunded",
    "charge_dispute_created",
    "customer_deleted",
    "invoice_payment_paid",
]
# Where the handlers and the indexing look (paths into the event; "obj" is data.object).
PATHS = [
    ("id",),
    ("type",),
    ("account",),
    ("api_version",),
    ("livemode",),
    ("created",),
    ("obj", "id"),
    ("obj", "customer"),
    ("obj", "customer_email"),
    ("obj", "customer_details"),
    ("obj", "customer_details", "email"),
    ("obj", "customer_details", "name"),
    ("obj", "email"),
    ("obj", "receipt_email"),
    ("obj", "client_reference_id"),
    ("obj", "metadata"),
    ("obj", "metadata", "user_id"),
    ("obj", "metadata", "plan"),
    ("obj", "currency"),
    ("obj", "status"),
    ("obj", "mode"),
    ("obj", "payment_intent"),
    ("obj", "subscription"),
    ("obj", "charge"),
    ("obj", "invoice"),
    ("obj", "amount_refunded"),
    ("obj", "amount_due"),
    ("obj", "lines"),
    ("obj", "items"),
    ("obj", "parent"),
    ("obj", "payment"),
]

awkward_chars = st.characters(
    categories=["Cc", "Cs", "Zl", "Zp", "Mn", "Lu", "Ll", "So"], include_characters="\x00İẞﬃ"
)
hostile_text = st.one_of(
    st.text(awkward_chars, max_size=40),
    st.text(max_size=20).map(lambda s: "cus_" + s),
    st.integers(200, 3000).map(lambda n: "\u0130" * n),
    st.integers(250, 400).map(lambda n: "pi_" + "x" * n),
    st.sampled_from(["", "evt_", "\x00", "\ud800", "a@b.c\x00", "usdd", "evt_1\nINFO forged"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    hostile_text,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


hostile_values = st.one_of(
    scalars,
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3)
        ),
        max_leaves=8,
    ),
    st.integers(1, 600).map(nested),
    st.integers(20_000, 60_000).map(lambda n: "x" * n),
)


@st.composite
def hostile_events(draw) -> tuple[dict[str, Any], bytes]:
    event = load_event(draw(st.sampled_from(FIXTURES)))
    event["id"] = f"evt_1Hostile{next(_serial):010d}"
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=4, unique=True)):
        target = event if path[0] != "obj" else event["data"]["object"]
        keys = path if path[0] != "obj" else path[1:]
        for key in keys[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[keys[-1]] = draw(hostile_values)
    return event, json.dumps(event).encode()


def accepted(body: bytes) -> bool:
    """Whether the webhook's parser takes it: the import must then store it too."""
    try:
        parse_event(body)
    except WebhookRejected:
        return False
    return True


def rows_for(event_id: Any) -> int:
    return (
        WebhookEvent.objects.filter(stripe_id=event_id).count() if isinstance(event_id, str) else 0
    )


QUICK = settings(
    max_examples=60,  # about 10 s a test on the CI machine
    deadline=None,
    database=None,  # no example store in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@QUICK
@given(hostile_events())
def test_the_webhook_never_loses_a_signed_event_to_a_field(case):
    event, body = case
    before = WebhookEvent.objects.count()

    response = post_event(Client(), body)  # an unhandled exception fails the test here

    code = response.status_code
    assert code in (200, 202, 400, 500, 503), response.content
    if code == 400:
        assert WebhookEvent.objects.count() == before  # refused: nothing stored
    else:
        assert rows_for(event["id"]) == 1  # answered 2xx or 5xx: stored, Stripe can retry
        assert WebhookEvent.objects.get(stripe_id=event["id"]).body.encode() == body
    if code == 500:
        stored = WebhookEvent.objects.get(stripe_id=event["id"])
        assert stored.status == WebhookEvent.Status.FAILED
        assert stored.attempts.last().error  # the reason, for staff


garbage_lines = st.one_of(
    st.binary(max_size=200).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    hostile_values.map(lambda v: json.dumps(v).encode()),
    st.just(b'{"object":"list","data":5}'),
)


def import_file(content: bytes) -> None:
    """Run the import on `content`: a summary or a one-line CommandError, nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events"
        path.write_bytes(content)
        try:
            call_command(
                "import_webhook_events", str(path), stdout=io.StringIO(), stderr=io.StringIO()
            )
        except CommandError as exc:
            assert "\n" not in str(exc)


@QUICK
@given(st.lists(st.one_of(hostile_events().map(lambda c: c[1]), garbage_lines), max_size=6))
def test_the_import_of_json_lines_never_crashes_and_stores_what_the_webhook_would(lines):
    import_file(b"".join(line + b"\n" for line in lines))

    for line in lines:
        if accepted(line):
            assert rows_for(json.loads(line)["id"]) == 1


@QUICK
@given(st.lists(st.one_of(hostile_events().map(lambda c: c[0]), hostile_values), max_size=6))
def test_the_import_of_a_list_object_never_crashes_and_stores_what_the_webhook_would(items):
    listing = {"object": "list", "data": items, "has_more": False}
    import_file(json.dumps(listing).encode())

    for item in items:
        if not is_json(item):
            break  # Infinity: the file is not JSON from here on, the import says so and stops
        if accepted(json.dumps(item).encode()):
            assert rows_for(item["id"]) == 1


def is_json(value: Any) -> bool:
    """Whether `value` serialises to JSON proper (RFC 8259: no NaN or Infinity)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True
