"""The price catalogue: every price seen is kept, so a basil invoice line resolves to its plan.

Stripe's changelog for 2025-03-31.basil ("Replaces top-level price fields with improved price
modeling on Invoice Items and Invoice Line Items"): `price` and `plan` are no longer on invoice
line items; use `pricing.price_details.price`, which is an id (no `lookup_key`). Before basil
a line embeds the price object. Listing prices (`GET /v1/prices`) returns active prices only
unless `active=false` is passed (API reference, "List all prices").
"""

import itertools
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment, Price
from tests.stripe_events import MID_P1, deliver, load_event, membership_of
from tests.webhooks import post_event

pytestmark = pytest.mark.django_db
FOREVER = MID_P1.replace(year=2060)


@pytest.fixture(autouse=True)
def no_price_map(settings):
    """Resolution through the catalogue and lookup keys only, as on a site that maps none."""
    settings.MEMBERSHIP_PLAN_PRICES = {}


def test_price_events_fill_the_catalogue(client):
    deliver(client, "price_created")
    deliver(client, "price_updated")

    price = Price.objects.get(price_id="price_1TxLifetimeAcme001")
    assert (price.product_id, price.lookup_key, price.nickname, price.interval) == (
        "prod_TxMembershipAcme",
        "lifetime",
        "Lifetime membership",
        "",
    )


def test_a_deleted_price_is_kept_and_still_resolves(client, student):
    deliver(client, "price_created")
    deliver(client, "price_deleted")
    deliver(client, "invoice_paid__one_off")

    price = Price.objects.get(price_id="price_1TxLifetimeAcme001")
    assert (price.active, price.deleted_at is not None) == (False, True)
    assert membership_of(student).plan == "lifetime"


def test_an_older_price_snapshot_is_superseded(client):
    deliver(client, "price_updated")
    answer = deliver(client, "price_created")

    assert answer["status"] == "superseded"
    assert Price.objects.get().nickname == "Lifetime membership"


def test_prices_embedded_in_other_payloads_are_kept(client, linked_student):
    deliver(client, "customer_subscription_created")
    deliver(client, "invoice_paid__one_off_legacy")

    assert set(Price.objects.values_list("price_id", "lookup_key")) == {
        ("price_1TxMonthlyAcme0001", "monthly"),
        ("price_1TxLifetimeAcme001", "lifetime"),
    }


@pytest.mark.parametrize("fixture", ["invoice_paid__one_off", "invoice_paid__one_off_legacy"])
def test_a_paid_one_off_invoice_for_the_lifetime_price_grants_lifetime_in_both_shapes(
    client, student, fixture
):
    deliver(client, "price_created")  # what the catalogue knows of the lifetime price
    deliver(client, fixture)

    membership = membership_of(student)
    assert (membership.status, membership.plan, membership.access_until) == (
        "active",
        "lifetime",
        None,
    )
    assert is_member(student, at=FOREVER)


def test_a_paid_invoice_with_an_unknown_price_is_flagged_not_granted(client, student, caplog):
    with caplog.at_level(logging.WARNING, logger="bootwebhooks.payments.catalogue"):
        deliver(client, "invoice_paid__one_off")

    payment = Payment.objects.get()
    assert (payment.status, payment.product, payment.plan) == ("succeeded", "unknown", "")
    assert "price_1TxLifetimeAcme001" in caplog.text and "flagged for staff" in caplog.text
    assert not is_member(student, at=MID_P1)


def test_the_unknown_price_shows_in_the_admin(client, student, admin_client):
    deliver(client, "invoice_paid__one_off")

    listing = admin_client.get(
        "/admin/bootwebhooks_payments/payment/", {"product__exact": "unknown"}
    )
    assert "in_1TxInvLifetime00001" in listing.content.decode()
    assert "unknown price: needs review" in listing.content.decode()


def test_the_price_arriving_later_resolves_the_waiting_payment(client, student):
    deliver(client, "invoice_paid__one_off")
    deliver(client, "price_created")

    assert Payment.objects.get().product == "membership"
    assert membership_of(student).plan == "lifetime"


def test_an_unknown_price_of_a_membership_subscription_counts_with_it(client, linked_student):
    """The subscription's own items (which embed their prices) say it is the membership."""
    deliver(client, "invoice_paid", obj__lines=renewal_lines_naming("price_1TxUnseenAcme0001"))
    deliver(client, "customer_subscription_created")

    assert Payment.objects.get().product == "unknown"
    assert is_member(linked_student, at=MID_P1)


def renewal_lines_naming(price_id: str) -> dict:
    lines = load_event("invoice_paid")["data"]["object"]["lines"]
    lines["data"][0]["pricing"]["price_details"]["price"] = price_id
    return lines


# --- a copy the catalogue already holds ---------------------------------------------------
# Stripe's API reference, "Update a price": only `active`, `lookup_key`, `nickname`, metadata,
# `tax_behavior` and currency options can change after creation (product, amount, currency and
# interval are fixed), and each change sends `price.updated` ("Types of events").


def test_an_unchanged_embedded_price_is_not_written_again(client, linked_student):
    """Every subscription of a plan embeds the same price: copies change nothing, so they
    are not written (and do not queue every member's events on the one row)."""
    deliver(client, "customer_subscription_created")
    deliver(client, "customer_subscription_updated")  # later, the same monthly price

    price = Price.objects.get(price_id="price_1TxMonthlyAcme0001")
    assert price.snapshot_event_id == load_event("customer_subscription_created")["id"]


def test_a_changed_embedded_price_is_taken(client, linked_student):
    deliver(client, "customer_subscription_created")
    updated = load_event("customer_subscription_updated")
    updated["data"]["object"]["items"]["data"][0]["price"]["nickname"] = "Monthly (2027)"
    deliver(client, updated)

    price = Price.objects.get(price_id="price_1TxMonthlyAcme0001")
    assert (price.nickname, price.snapshot_event_id) == ("Monthly (2027)", updated["id"])


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_a_price_changed_and_changed_back_ends_as_it_is_in_any_order(client, student, order):
    """The nickname goes A, B, A: price.created (A), price.updated (B), price.updated (A),
    then an invoice embedding A. An embedded copy equal to the row is not written, but price
    events always are, so the late B is refused by the price event that set A back."""
    first = load_event("price_created")
    changed = load_event("price_updated")
    changed_back = load_event(
        "price_updated",
        id="evt_1TxFixture000000199",
        created=changed["created"] + 100,
        obj__nickname=first["data"]["object"]["nickname"],
    )
    invoice = load_event("invoice_paid__one_off_legacy")
    embedded = invoice["data"]["object"]["lines"]["data"][0]["price"]
    assert Price.snapshot(embedded) == Price.snapshot(first["data"]["object"])
    assert Price.snapshot(changed["data"]["object"]) != Price.snapshot(embedded)
    events = [first, changed, changed_back, invoice]

    for index in order:
        deliver(client, events[index])

    assert Price.objects.get(price_id=embedded["id"]).nickname == embedded["nickname"]


def test_a_copy_equal_to_the_row_still_resolves_a_payment_that_waits_for_it(client, linked_student):
    """A price committed by a concurrent event that could not see the payment waiting for
    it: the next copy is read as a change while any payment waits, so the payment resolves."""
    deliver(client, "invoice_paid")  # names the monthly price, which nobody has seen
    sub = load_event("customer_subscription_created")
    price = sub["data"]["object"]["items"]["data"][0]["price"]
    Price.objects.create(
        price_id=price["id"],
        snapshot_at=FOREVER.replace(year=2000),
        snapshot_event_id="evt_concurrent",
        **Price.snapshot(price),
    )
    assert Payment.objects.get().product == "unknown"

    deliver(client, sub)

    assert Payment.objects.get().product == "membership"


def test_an_embedded_price_id_that_cannot_be_stored_fails_the_event_with_the_reason(
    client, linked_student
):
    sub = load_event("customer_subscription_created")
    sub["data"]["object"]["items"]["data"][0]["price"]["id"] = "price_1Tx\x00Acme"

    response = post_event(client, sub)

    assert response.status_code == 500
    attempt = WebhookEvent.objects.get(stripe_id=sub["id"]).attempts.get()
    assert "Price.price_id 'price_1Tx\\x00Acme' holds a NUL" in attempt.error


# --- sync_stripe_prices --------------------------------------------------------------------


def stripe_price(price_id: str, lookup_key: str | None, *, active: bool = True, created: int = 0):
    price = load_event("price_created")["data"]["object"]
    return price | {"id": price_id, "lookup_key": lookup_key, "active": active, "created": created}


def test_the_command_fills_the_catalogue_page_by_page(fake_stripe, capsys):
    for n in range(150):
        fake_stripe.prices[f"price_1TxSync{n:07d}"] = stripe_price(
            f"price_1TxSync{n:07d}", None, created=n
        )
    fake_stripe.prices["price_1TxOldAcme000001"] = stripe_price(
        "price_1TxOldAcme000001", "yearly", active=False
    )

    call_command("sync_stripe_prices", "--quiet")

    assert Price.objects.count() == 151
    assert Price.objects.get(price_id="price_1TxOldAcme000001").active is False
    out = capsys.readouterr().out
    assert "active prices, page 1: 100 read, 100 recorded" in out
    assert "active prices, page 2: 50 read, 50 recorded" in out
    assert "inactive prices, page 1: 1 read, 1 recorded" in out
    asked = [query.get("active") for path, query in fake_stripe.requests if path == "/v1/prices"]
    assert asked == [["true"], ["true"], ["false"]]


def test_the_command_resolves_waiting_payments_and_their_members(client, student, fake_stripe):
    deliver(client, "invoice_paid__one_off")
    assert not is_member(student, at=MID_P1)
    fake_stripe.prices["price_1TxLifetimeAcme001"] = stripe_price(
        "price_1TxLifetimeAcme001", "lifetime"
    )

    call_command("sync_stripe_prices", "--quiet")

    assert membership_of(student).plan == "lifetime"
    change = membership_of(student).changes.last()
    assert (change.reason, change.event) == ("price catalogue synced", None)


def test_the_command_says_what_is_missing_in_one_line(settings):
    settings.STRIPE_API_KEY = ""

    with pytest.raises(CommandError, match="STRIPE_API_KEY is not set"):
        call_command("sync_stripe_prices", "--quiet")


def test_staff_find_what_needs_review_from_the_admin_index(client, student, admin_client):
    deliver(client, "invoice_paid__one_off")

    index = admin_client.get("/admin/").content.decode()
    assert "Payments to review" in index or "payments to review" in index
    listing = admin_client.get("/admin/bootwebhooks_payments/payment/", {"review": "yes"})
    assert "in_1TxInvLifetime00001" in listing.content.decode()
