"""Signed Stripe deliveries for the bench, built from the product's own sample events.

A "member" is one customer's year in a membership business: signup (the four events of
`customer_journey`), a renewal, and for some a cancellation or a refund. Ids derive from a
prefix and a number, so every workload gets its own unique events.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bootwebhooks.inbox.samples import MONTH, customer_journey, event

SECRET = "whsec_bench_0123456789abcdef0123456789abcdef"
WRONG_SECRET = "whsec_bench_not_the_configured_secret_000000"
WEBHOOK = "/webhooks/stripe/"
NAIVE = "/bench/naive/"
FLOOR = "/bench/floor/"
DRF_FLOOR = "/bench/drf-floor/"
ONE_ROUND_TRIP = "/bench/one-round-trip/"
# Every type member_events() produces: the bench handler applies all of them.
EFFECT_TYPES = (
    "customer.created",
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "charge.refunded",
)


def signature_header(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def encode(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt, separators=(",", ":")).encode()


def member_events(prefix: str, n: int, now: int, first_user: int = 1) -> list[dict[str, Any]]:
    key = f"{prefix}{n:07d}"
    user_id = first_user + n
    signup = customer_journey(
        key=key, user_id=user_id, email=f"member{user_id}@example.com", now=now
    )
    subscription = signup[2]["data"]["object"]
    invoice = signup[3]["data"]["object"]
    renewal = {
        **invoice,
        "id": f"in_{key}_2",
        "billing_reason": "subscription_cycle",
        "lines": {
            "object": "list",
            "data": [
                {
                    **invoice["lines"]["data"][0],
                    "id": f"il_{key}_2",
                    "period": {"start": now + MONTH, "end": now + 2 * MONTH},
                }
            ],
        },
    }
    events = [*signup, event("invoice.paid", renewal, key=f"{key}_2", created=now + MONTH)]
    if n % 4 == 0:
        cancelling = {**subscription, "cancel_at_period_end": True, "cancel_at": now + 2 * MONTH}
        events.append(
            event(
                "customer.subscription.updated",
                cancelling,
                key=key,
                created=now + MONTH + 10,
            )
        )
        events[-1]["data"]["previous_attributes"] = {"cancel_at_period_end": False}
        ended = {**cancelling, "status": "canceled", "ended_at": now + 2 * MONTH}
        deleted = event("customer.subscription.deleted", ended, key=key, created=now + 2 * MONTH)
        events.append(deleted)
    if n % 10 == 0:
        charge = {
            "id": f"ch_{key}",
            "object": "charge",
            "amount": 1500,
            "amount_refunded": 1500,
            "refunded": True,
            "customer": f"cus_{key}",
            "payment_intent": f"pi_{key}",
            "currency": "usd",
        }
        events.append(event("charge.refunded", charge, key=key, created=now + MONTH + 20))
    return events


def bodies(prefix: str, count: int, now: int | None = None, first_user: int = 1) -> Iterator[bytes]:
    """`count` unique event bodies, members in order (signups before renewals per member).

    Member n is user `first_user + n` (Checkout's client_reference_id): with those users
    created (create_users), every event reaches a membership."""
    now = int(time.time()) if now is None else now
    produced, n = 0, 0
    while produced < count:
        for evt in member_events(prefix, n, now, first_user):
            if produced == count:
                return
            yield encode(evt)
            produced += 1
        n += 1


def create_users(conn, first: int, count: int) -> None:
    """Users `first` .. `first + count - 1`, as a signup flow would have made them (one query)."""
    conn.execute(
        "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, "
        "email, is_staff, is_active, date_joined) "
        "SELECT g, '!', false, 'member' || g, '', '', 'member' || g || '@example.com', false, "
        "true, now() FROM generate_series(%s::bigint, %s::bigint) AS g ON CONFLICT DO NOTHING",
        [first, first + count - 1],
    )


def write_requests(
    path: Path, url_path: str, payloads: Iterable[bytes], secret: str = SECRET
) -> int:
    """One request a line for replay.lua: `path<TAB>Stripe-Signature<TAB>body`, signed now."""
    t = int(time.time())
    written = 0
    with open(path, "wb") as out:
        for body in payloads:
            header = signature_header(body, secret, t).encode()
            out.write(b"%s\t%s\t%s\n" % (url_path.encode(), header, body))
            written += 1
    return written
