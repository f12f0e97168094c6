"""Loading the scrubbed Stripe event fixtures in tests/fixtures/stripe/ and delivering them."""

import copy
import itertools
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from bootwebhooks.memberships.models import Membership
from bootwebhooks.payments.models import Payment, StripeCustomer, Subscription
from tests.webhooks import post_event

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
EMAIL = "ada.student@example.com"
CUSTOMER = "cus_TxStud3ntAcme01"
_ids = itertools.count(1)


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def load_event(name: str, *, fresh_id: bool = False, **changes: Any) -> dict[str, Any]:
    """A deep copy of fixture `name`; `changes` set top-level envelope fields, and
    `obj__<field>=value` sets a field of data.object."""
    event = copy.deepcopy(_read(name))
    for key, value in changes.items():
        if key.startswith("obj__"):
            event["data"]["object"][key.removeprefix("obj__")] = value
        else:
            event[key] = value
    if fresh_id:
        event["id"] = f"evt_1TxFresh{next(_ids):012d}"
    return event


def deliver(client: Client, name_or_event: str | dict[str, Any], **changes: Any) -> dict:
    """POST a fixture (or event) to the real endpoint, signed; return the JSON answer."""
    if isinstance(name_or_event, str):
        event = load_event(name_or_event, **changes)
    else:
        event = name_or_event
    response = post_event(client, event)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def student(django_user_model):
    """The user the fixtures' customer belongs to (found by email)."""
    return django_user_model.objects.create_user("ada", email=EMAIL, password="x")


# The fixtures' timeline: the first month, then the renewal.
P1_START = datetime(2026, 11, 1, tzinfo=UTC)
P1_END = datetime(2026, 12, 1, tzinfo=UTC)
P2_END = datetime(2027, 1, 1, tzinfo=UTC)
MID_P1 = datetime(2026, 11, 15, tzinfo=UTC)


def membership_of(user) -> Membership:
    return Membership.objects.get(user=user)


@pytest.fixture
def linked_student(student):
    """The student, with the fixtures' customer already linked (subscriptions carry no email)."""
    StripeCustomer.objects.create(customer_id=CUSTOMER, user=student, email=EMAIL)
    return student


def domain_state() -> dict[str, Any]:
    """Everything the rules decide, without ids, times of processing or history."""
    return {
        "memberships": [m.state() | {"user": m.user_id} for m in Membership.objects.all()],
        "payments": list(
            Payment.objects.order_by("stripe_id").values_list(
                "stripe_id", "user_id", "status", "amount_refunded", "period_end", "plan", "product"
            )
        ),
        "subscriptions": list(
            Subscription.objects.order_by("subscription_id").values_list(
                "subscription_id",
                "user_id",
                "status",
                "plan",
                "current_period_end",
                "cancel_at_period_end",
            )
        ),
    }
