"""The person page and its search, without a browser (the walks are in tests/browser/)."""

import time

import pytest
from django.contrib.auth.models import User

from bootwebhooks.inbox import samples
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.admin import find_people
from bootwebhooks.memberships.person import for_user, why
from bootwebhooks.memberships.roles import SUPPORT
from bootwebhooks.memberships.services import override_access
from bootwebhooks.payments.models import Subscription
from bootwebhooks.payments.plans import Product
from tests.memberships.test_admin import staff
from tests.webhooks import post_event

pytestmark = pytest.mark.django_db
PEOPLE = "/admin/bootwebhooks_memberships/membership/people/"


@pytest.fixture
def ada(client):
    """A member through Stripe's signup events, plus the basil link of her payment intent."""
    user = User.objects.create_user("ada", "Ada.Lovelace@example.com", first_name="Ada")
    now = int(time.time())
    for event in samples.customer_journey(key="ada", user_id=user.pk, email=user.email, now=now):
        assert post_event(client, event).status_code == 200
    link = samples.build("invoice_payment.paid", key="ada", user_id=user.pk, email="", now=now)
    assert post_event(client, link).status_code == 200
    return user


@pytest.mark.parametrize(
    "term",
    ["lovelace@EX", "Ada", "CUS_AD", "sub_ad", "in_ada", "pi_ada", "cs_ada", "evt_ada_cust"],
)
def test_a_person_is_found_by_part_of_an_email_a_name_or_any_stripe_id(ada, term):
    users, payers = find_people(term)
    assert users == [ada] and payers == []


def test_a_charge_id_finds_the_person_once_a_refund_names_it(client, ada):
    refund = samples.build("charge.refunded", key="ada", user_id=ada.pk, email="", now=1)
    post_event(client, refund)
    assert find_people("ch_ad")[0] == [ada]


def test_an_unmatched_payer_is_found_by_email_and_nobody_else_is(client, ada):
    paid = samples.build(
        "invoice.paid", key="zed", user_id=None, email="zed@nowhere.example", now=1
    )
    post_event(client, paid)

    users, payers = find_people("ZED@now")

    assert users == [] and [c.customer_id for c in payers] == ["cus_zed"]


def test_a_staff_revoke_is_never_told_as_a_refund_or_a_dispute(client, ada):
    bea = User.objects.create_user("bea")
    override_access(ada, "revoke", staff=bea, reason="shared the account")

    reason = why(for_user(ada))

    assert reason.status == "revoked"
    assert reason.headline.startswith("Revoked by staff member bea on ")
    assert "refund" not in reason.headline and "dispute" not in reason.headline
    assert reason.cause.staff == bea


def test_a_lost_dispute_is_told_as_one(client, ada):
    closed = samples.build("charge.dispute.closed", key="ada", user_id=ada.pk, email="", now=2)
    post_event(client, closed)

    reason = why(for_user(ada))

    assert reason.status == "revoked"
    assert "the dispute on charge ch_ada" in reason.headline and "was lost" in reason.headline
    assert reason.cause.event.type == "charge.dispute.closed"


def test_the_person_page_shows_payments_in_their_currency_and_the_timeline(client, ada):
    client.force_login(staff("sam", SUPPORT))
    page = client.get(f"/admin/bootwebhooks_memberships/membership/person/{ada.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "15.00 USD" in html and "sub_ada" in html and "cus_ada" in html
    assert "Active until" in html and "paid by invoice in_ada" in html
    assert "customer.subscription.created" in html  # subscription events carry no email
    assert client.get(PEOPLE, {"q": "lovelace"}).content.decode().count("person-link") == 1


def test_the_payer_page_of_a_linked_customer_is_its_users_page(client, ada):
    client.force_login(staff("sam", SUPPORT))
    response = client.get("/admin/bootwebhooks_memberships/membership/payer/cus_ada/")
    assert response.url == f"/admin/bootwebhooks_memberships/membership/person/{ada.pk}/"


def test_people_pages_need_the_view_permission(client, ada, django_user_model):
    nobody = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(nobody)
    assert client.get(PEOPLE, {"q": "ada"}).status_code == 403
    person = f"/admin/bootwebhooks_memberships/membership/person/{ada.pk}/"
    assert client.get(person).status_code == 403


def test_a_refund_that_changed_no_access_says_why_on_its_event_page(client):
    """Since basil a charge no longer names its invoice; `invoice_payment.paid` ties the
    payment intent to it (docs.stripe.com/changelog/basil). A refund that comes first is
    processed without touching access, and its event page says why."""
    user = User.objects.create_user("kim", "kim@example.com")
    now = int(time.time())
    for event in samples.customer_journey(key="kim", user_id=user.pk, email=user.email, now=now):
        post_event(client, event)
    refund = samples.build("charge.refunded", key="kim", user_id=user.pk, email="", now=now + 9)
    post_event(client, refund)
    stored = WebhookEvent.objects.get(stripe_id=refund["id"])
    client.force_login(staff("sam", SUPPORT))

    page = client.get(f"/admin/bootwebhooks_inbox/webhookevent/{stored.pk}/change/").content

    assert stored.status == "processed"
    assert "charge ch_kim: refunded in full, not tied to any payment yet" in page.decode()
    assert "invoice_payment.paid" in page.decode()


def test_a_subscription_for_something_else_says_so(client, ada):
    Subscription.objects.create(
        subscription_id="sub_newsletter",
        customer_id="cus_ada",
        user=ada,
        status="active",
        product=Product.OTHER,
    )
    client.force_login(staff("sam", SUPPORT))
    page = client.get(f"/admin/bootwebhooks_memberships/membership/person/{ada.pk}/")
    assert "sub_newsletter" in page.content.decode()
    assert "not a membership product" in page.content.decode()
