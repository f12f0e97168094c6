"""Support answers "why does this person have, or lack, access?" in a real browser: search a
part of the email, open the person, read the reason.

The histories are delivered through the real webhook endpoint, signed, as Stripe sends them
(basil shapes, bootwebhooks.inbox.samples). With BOOTWEBHOOKS_SCREENSHOTS=<dir> set, each walk
saves a PNG of the page it reads (docs/SUPPORT.md shows them: `make screenshots`).
"""

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from bootwebhooks.inbox import samples
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.roles import BILLING, SUPPORT
from bootwebhooks.memberships.services import is_member, override_access
from tests.browser.conftest import log_in
from tests.browser.test_support_admin import staff
from tests.webhooks import post_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DAY = 24 * 3600
WIDTH = 1400
SHOTS = os.environ.get("BOOTWEBHOOKS_SCREENSHOTS", "")


@pytest.fixture
def wide(chromium):
    context = chromium.new_context(viewport={"width": WIDTH, "height": 1000})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def shoot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def deliver(client, *events: dict[str, Any]) -> None:
    for event in events:
        response = post_event(client, event)
        assert response.status_code == 200, response.content


def member(client, name: str, *, days_ago: int = 1) -> tuple[User, int]:
    """A user who signed up `days_ago` days ago: customer, Checkout, subscription, invoice."""
    user = User.objects.create_user(name, f"{name}.student@example.com", first_name=name.title())
    start = int(time.time()) - days_ago * DAY
    deliver(
        client,
        *samples.customer_journey(key=name, user_id=user.pk, email=user.email, now=start),
    )
    assert is_member(user)
    return user, start


def event(event_type: str, key: str, user: User | None, email: str, at: int) -> dict:
    return samples.build(
        event_type, key=key, user_id=user.pk if user else None, email=email, now=at
    )


def open_person(page, live_server, term: str, name: str, shot: str = "") -> None:
    """Search a part of the email from the admin index, then one click to the person."""
    page.goto(f"{live_server.url}/admin/")
    page.fill("#person-q", term)
    page.press("#person-q", "Enter")
    page.wait_for_selector("#people")
    if shot:
        shoot(page, shot)
    page.click(f"#people a.person-link:has-text('{name}')")
    page.wait_for_selector("#why")


def reason(page) -> str:
    return page.inner_text("#why")


def test_a_staff_revoke_is_told_as_a_staff_decision_with_the_note(client, wide, live_server):
    alice, _ = member(client, "alice")
    bea = staff("bea", BILLING)
    override_access(alice, "revoke", staff=bea, reason="shared the account with a class")
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    open_person(wide, live_server, "ALICE.stu", "Alice")

    assert wide.inner_text("#status") == "Revoked"
    why = reason(wide)
    assert "Revoked by staff member bea" in why
    assert "shared the account with a class" in why
    assert "refund" not in why.lower() and "dispute" not in why.lower()
    assert "Staff revoke by bea" in wide.inner_text("#timeline")
    shoot(wide, "person-staff-revoke")

    wide.click("#why a:has-text('Membership record')")
    history = wide.inner_text("#history")
    assert "active → revoked" in history and "staff member bea: shared the account" in history
    assert wide.title().startswith("membership of alice")

    wide.goto(f"{live_server.url}/admin/bootwebhooks_memberships/membership/?q=alice")
    row = wide.inner_text("#result_list")
    assert "Revoked" in row and "refund" not in row.lower()


def test_a_refund_waiting_for_its_invoice_is_explained_then_revokes(client, wide, live_server):
    """Since basil a charge no longer names its invoice; only invoice_payment.paid ties the
    payment intent to it (docs.stripe.com/changelog/basil, "Adds the InvoicePayment object").
    A refund that arrives first is answered `processed` and cannot revoke yet: the page says
    why, and the revoke follows once the link arrives."""
    bob, start = member(client, "bob")
    deliver(client, event("charge.refunded", "bob", bob, bob.email, start + 3600))
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    open_person(wide, live_server, "bob.st", "Bob")

    assert wide.inner_text("#status") == "Active"
    notes = wide.inner_text("#notes")
    assert "refund of charge ch_bob" in notes and "invoice_payment.paid" in notes
    assert "not tied to a payment yet" in wide.inner_text("#charges")
    shoot(wide, "person-refund-waiting")

    deliver(client, event("invoice_payment.paid", "bob", bob, bob.email, start + 7200))
    wide.reload()

    assert wide.inner_text("#status") == "Revoked"
    why = reason(wide)
    assert "Revoked: invoice in_bob (15.00 USD" in why and "refunded in full" in why
    assert "staff" not in why
    assert "charge.refunded" in wide.inner_text("#timeline")
    shoot(wide, "person-refund-revoked")


def test_an_open_dispute_suspends_and_a_lost_one_revokes(client, wide, live_server):
    carol, start = member(client, "carol")
    deliver(
        client,
        event("invoice_payment.paid", "carol", carol, carol.email, start + 60),
        event("charge.dispute.created", "carol", carol, carol.email, start + 3600),
    )
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    open_person(wide, live_server, "carol", "Carol")

    assert wide.inner_text("#status") == "Suspended"
    assert "disputed charge ch_carol" in reason(wide)
    assert "dispute open" in wide.inner_text("#payments")
    shoot(wide, "person-dispute-open")

    deliver(client, event("charge.dispute.closed", "carol", carol, carol.email, start + 7200))
    wide.reload()

    assert wide.inner_text("#status") == "Revoked"
    assert "the dispute on charge ch_carol" in reason(wide) and "was lost" in reason(wide)
    assert "charge.dispute.closed" in wide.inner_text("#cause")


def test_grace_names_the_failed_renewal_and_the_end(client, wide, live_server):
    dave, start = member(client, "dave", days_ago=29)
    renewal = start + 30 * DAY  # tomorrow: Stripe tries to collect ahead
    failed = event("invoice.payment_failed", "dave", dave, dave.email, int(time.time()))
    failed["id"] = "evt_dave_renewal_failed"
    invoice = failed["data"]["object"]
    invoice["id"] = "in_dave_renewal"
    invoice["billing_reason"] = "subscription_cycle"
    invoice["lines"]["data"][0]["period"] = {"start": renewal, "end": renewal + 30 * DAY}
    deliver(client, failed)
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    open_person(wide, live_server, "dave", "Dave")

    assert wide.inner_text("#status") == "Grace"
    why = reason(wide)
    assert "In grace until" in why and "UTC" in why
    assert "invoice in_dave_renewal (15.00 USD) failed" in why and "Stripe is retrying" in why
    assert is_member(dave)
    shoot(wide, "person-grace")


def test_an_unmatched_payer_is_found_and_waits_for_a_link(client, wide, live_server):
    deliver(client, event("invoice.paid", "erin", None, "erin@elsewhere.example", int(time.time())))
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    open_person(wide, live_server, "erin@else", "erin@elsewhere.example", "people-search")

    assert wide.inner_text("#status") == "Waiting for a link"
    why = reason(wide)
    assert "Stripe customer cus_erin" in why and "15.00 USD" in why
    assert "in_erin" in wide.inner_text("#payments") and "15.00 USD" in wide.inner_text("#payments")
    shoot(wide, "person-unmatched")


def test_an_active_member_is_told_until_when_and_paid_by_what(client, wide, live_server):
    member(client, "fay")
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    open_person(wide, live_server, "fay.stu", "Fay")

    assert wide.inner_text("#status") == "Active"
    assert "paid by invoice in_fay (15.00 USD for" in reason(wide)
    subscriptions = wide.inner_text("#subscriptions")
    assert "sub_fay" in subscriptions and "active" in subscriptions and "monthly" in subscriptions
    newest = wide.locator("#timeline tbody tr").first.inner_text()
    assert "invoice.paid evt_fay_invoice_paid, 15.00 USD" in newest  # the journey's last step
    timeline = wide.inner_text("#timeline")
    assert "Membership none → active" in timeline  # the Checkout
    assert "Membership still active, access until" in timeline  # the subscription's period
    shoot(wide, "person-active")


def test_the_event_list_fits_1280_px_and_finds_subscription_events_by_email(
    client, chromium, live_server
):
    member(client, "gus")
    staff("sam", SUPPORT)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/admin/bootwebhooks_inbox/webhookevent/?q=GUS.stud")

    rows = page.inner_text("#result_list")
    assert "customer.subscription.created" in rows  # it carries no email
    assert "invoice.paid" in rows and "15.00 USD" in rows and " UTC" in rows
    assert_fits(page)
    shoot(page, "event-list")
    for model in LISTS:
        page.goto(f"{live_server.url}/admin/{model}/")
        assert "gus" in page.inner_text("#result_list")
        assert_fits(page)
    context.close()


LISTS = [
    "bootwebhooks_memberships/membership",
    "bootwebhooks_payments/payment",
    "bootwebhooks_payments/subscription",
    "bootwebhooks_payments/stripecustomer",
]


def assert_fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"{page.url}: the page is {width} px wide"
    box = page.evaluate(
        "(() => { const r = document.querySelector('#changelist .results');"
        " return [r.scrollWidth, r.clientWidth]; })()"
    )
    assert box[0] <= box[1], f"{page.url}: the list is {box[0]} px wide in a {box[1]} px box"


def test_the_retry_preview_speaks_words(client, wide, live_server):
    hal = User.objects.create_user("hal", "hal.student@example.com")
    paid = event("invoice.paid", "hal", hal, hal.email, int(time.time()))
    deliver(client, paid)
    stored = WebhookEvent.objects.get(stripe_id=paid["id"])
    WebhookEvent.objects.filter(pk=stored.pk).update(status="failed")
    staff("sam", SUPPORT)
    log_in(wide, live_server, "sam")

    wide.goto(f"{live_server.url}/admin/bootwebhooks_inbox/webhookevent/{stored.pk}/retry/")

    preview = wide.inner_text("#preview")
    assert "Would be processed." in preview
    assert "a 15.00 USD invoice payment in_hal for hal: succeeded" in preview
    assert "membership of hal: stays active, access until" in preview  # already applied
    assert "bootwebhooks_" not in preview  # the tables stay folded away
    shoot(wide, "retry-preview")
    wide.click("#cancel")
    assert wide.url.endswith(f"/webhookevent/{stored.pk}/change/")
