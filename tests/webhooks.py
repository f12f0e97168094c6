"""Building and signing Stripe deliveries the way Stripe does, for tests."""

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from django.test import Client

TEST_SECRET = "whsec_test_0123456789abcdef0123456789abcdef"
WEBHOOK_URL = "/webhooks/stripe/"
_ids = itertools.count(1)


def signature_header(body: bytes, secret: str = TEST_SECRET, timestamp: int | None = None) -> str:
    """Computed independently of bootwebhooks.inbox.verify, so a bug there cannot hide."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def make_event(
    event_type: str = "customer.created",
    obj: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A v1 snapshot event envelope around `obj`."""
    n = next(_ids)
    event = {
        "id": f"evt_test{n:08d}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1_780_000_000 + n,
        "data": {"object": obj or {"id": f"cus_test{n:08d}", "object": "customer"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    event.update(fields)
    return event


def post_event(
    client: Client,
    event: dict[str, Any] | bytes,
    *,
    secret: str = TEST_SECRET,
    timestamp: int | None = None,
    header: str | None = None,
    url: str = WEBHOOK_URL,
):
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    if header is None:
        header = signature_header(body, secret, timestamp)
    return client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
