"""reconcile_memberships against stripe-python talking to a local stand-in for Stripe's API."""

import csv
import io
import json
import time

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from bootwebhooks.inbox import samples
from bootwebhooks.memberships.models import Membership
from bootwebhooks.memberships.services import is_member
from bootwebhooks.payments.models import Subscription
from tests.webhooks import post_event

NOW = int(time.time())


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("reconcile_memberships", "--quiet", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def member(client):
    """A student whose signup arrived by webhook: an active monthly member."""
    ada = User.objects.create_user("ada", "ada@example.com")
    for event in samples.customer_journey(key="rec1", user_id=ada.pk, email=ada.email, now=NOW):
        post_event(client, event)
    assert is_member(ada)
    return ada


def in_stripe(fake, *, status: str = "active", **fields) -> dict:
    """What Stripe's API holds for the member's customer and subscription now."""
    s = samples.Student(key="rec1", user_id=None, email="ada@example.com", now=NOW)
    fake.customers["cus_rec1"] = {**samples.customer(s), "created": NOW, "livemode": False}
    sub = samples.subscription(s, status, **fields)
    sub.update(
        created=NOW, livemode=False, start_date=NOW, collection_method="charge_automatically"
    )
    sub["items"].update(url="/v1/subscription_items?subscription=sub_rec1", has_more=False)
    item = sub["items"]["data"][0]
    item.update(created=NOW, quantity=1, subscription="sub_rec1", metadata={})
    item["price"].update(product="prod_rec", active=True, created=NOW, livemode=False)
    fake.products["prod_rec"] = {
        "id": "prod_rec",
        "object": "product",
        "name": "Membership",
        "type": "service",
        "active": True,
        "created": NOW,
        "livemode": False,
        "metadata": {},
    }
    fake.subscriptions["sub_rec1"] = sub
    return sub


pytestmark = [pytest.mark.mirror, pytest.mark.django_db]


def test_in_sync_members_report_no_drift(fake_stripe, member):
    in_stripe(fake_stripe)
    out = run()
    assert "no drift" in out and "1 in sync" in out


def test_a_missed_cancellation_is_reported_as_drift(fake_stripe, member):
    in_stripe(fake_stripe, status="canceled", canceled_at=NOW, ended_at=NOW)

    rows = json.loads(run("--format", "json").split("\ncheck")[0])

    assert rows == [
        {
            "user": "ada",
            "customer_id": "cus_rec1",
            "subscription_id": "sub_rec1",
            "field": "status",
            "local": "active",
            "stripe": "canceled",
        }
    ]
    assert is_member(member)  # a report changes nothing
    table = run()
    assert "sub_rec1" in table and "canceled" in table and "1 drifted" in table
    parsed = list(csv.DictReader(io.StringIO(run("--format", "csv").split("checked")[0])))
    assert parsed[0]["stripe"] == "canceled"


def test_apply_brings_local_state_to_stripe_and_records_why(fake_stripe, member):
    in_stripe(fake_stripe, status="canceled", canceled_at=NOW, ended_at=NOW)

    assert "1 repaired" in run("--apply")

    assert Subscription.objects.get(subscription_id="sub_rec1").status == "canceled"
    membership = Membership.objects.get(user=member)
    assert membership.status == "ended" and not is_member(member)
    change = membership.changes.last()
    assert change.event.source == "command"
    assert change.event.stripe_id.startswith("evt_reconcile_sub_rec1_")
    assert "no drift" in run()  # and it stays repaired


def test_apply_creates_a_subscription_we_never_heard_of(fake_stripe, client):
    ada = User.objects.create_user("ada", "ada@example.com")
    journey = samples.customer_journey(key="rec1", user_id=ada.pk, email=ada.email, now=NOW)
    post_event(client, journey[0])  # only customer.created arrived
    post_event(client, journey[1])  # and Checkout; the subscription events were lost
    Membership.refresh(ada.pk)
    in_stripe(fake_stripe)

    out = run("--apply")

    assert "1 repaired" in out
    membership = Membership.objects.get(user=ada)
    assert (membership.status, membership.plan) == ("active", "monthly")


def test_the_mirror_holds_the_customer_and_subscription_for_the_admin(fake_stripe, member):
    from djstripe.models import Customer
    from djstripe.models import Subscription as Mirrored

    in_stripe(fake_stripe)
    run()
    assert Customer.objects.get(id="cus_rec1").email == "ada@example.com"
    assert Mirrored.objects.get(id="sub_rec1").status == "active"


def test_a_repair_that_fails_is_counted_as_failed(fake_stripe, member, monkeypatch):
    from django.core.management.base import CommandError

    from bootwebhooks.inbox import dispatch, ingest
    from bootwebhooks.inbox.registry import Registry

    broken = Registry()

    @broken.handles("customer.subscription.updated")
    def explode(event):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(dispatch, "registry", broken)
    monkeypatch.setattr(ingest, "registry", broken)
    in_stripe(fake_stripe, status="canceled", canceled_at=NOW, ended_at=NOW)

    with pytest.raises(CommandError, match="1 failed: sub_rec1"):
        run("--apply")
    assert is_member(member)  # nothing half-applied
