"""The support admin for memberships, payments and unmatched customers."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.utils import timezone

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.models import Membership
from bootwebhooks.memberships.roles import BILLING, SUPPORT, create_roles
from bootwebhooks.memberships.services import is_member
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests.stripe_events import CUSTOMER, EMAIL, deliver, load_event

pytestmark = pytest.mark.django_db
MEMBERSHIPS = "/admin/bootwebhooks_memberships/membership/"
CUSTOMERS = "/admin/bootwebhooks_payments/stripecustomer/"


def staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    create_roles()
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def member(client, student):
    """The fixtures' student, made a member by a paid invoice (fresh dates)."""
    now = timezone.now()
    line_period = {
        "start": int(now.timestamp()),
        "end": int((now + timedelta(days=30)).timestamp()),
    }
    event = load_event("invoice_paid")
    event["data"]["object"]["lines"]["data"][0]["period"] = line_period
    deliver(client, event)
    assert is_member(student)
    return Membership.objects.get(user=student)


@pytest.mark.parametrize("term", [EMAIL, "ada", CUSTOMER])
def test_support_finds_a_membership_by_email_username_or_customer(client, member, term):
    client.force_login(staff("sam", SUPPORT))
    page = client.get(MEMBERSHIPS, {"q": term}).content.decode()
    assert f"{MEMBERSHIPS}{member.pk}/change/" in page


def test_the_history_links_each_change_to_its_event(client, member):
    client.force_login(staff("sam", SUPPORT))
    page = client.get(f"{MEMBERSHIPS}{member.pk}/change/").content.decode()
    event = WebhookEvent.objects.get(type="invoice.paid")
    assert f"/admin/bootwebhooks_inbox/webhookevent/{event.pk}/change/" in page
    assert "none → active" in page and "invoice.paid" in page
    assert "grant-membership" not in page  # Support may look, not change


def test_the_event_page_links_the_payment_and_change_it_caused(client, member):
    client.force_login(staff("sam", SUPPORT))
    event = WebhookEvent.objects.get(type="invoice.paid")
    page = client.get(f"/admin/bootwebhooks_inbox/webhookevent/{event.pk}/change/").content.decode()
    payment = Payment.objects.get()
    assert f"/admin/bootwebhooks_payments/payment/{payment.pk}/change/" in page
    assert "membership of ada: none → active, access until" in page


def test_support_cannot_grant_or_revoke(client, member):
    client.force_login(staff("sam", SUPPORT))
    url = f"{MEMBERSHIPS}{member.pk}/override/revoke/"
    assert client.post(url, {"reason": "x"}).status_code == 403
    assert is_member(member.user)


def test_billing_extends_by_days_with_a_reason_and_it_is_audited(client, member):
    bea = staff("bea", BILLING)
    client.force_login(bea)
    before = member.access_until
    url = f"{MEMBERSHIPS}{member.pk}/override/grant/"
    assert "reason" in client.post(url, {"days": "10"}).context["form"].errors

    client.post(url, {"days": "10", "reason": "goodwill after outage"})

    member.refresh_from_db()
    assert member.access_until == before + timedelta(days=10)
    change = member.changes.last()
    assert (change.staff, change.reason) == (bea, "goodwill after outage")
    assert "Staff grant: goodwill after outage" in LogEntry.objects.get(user=bea).change_message


def test_billing_grants_a_non_member_and_revokes_a_member(client, member, django_user_model):
    client.force_login(staff("bea", BILLING))
    client.post(f"{MEMBERSHIPS}{member.pk}/override/revoke/", {"reason": "chargeback abuse"})
    member.refresh_from_db()
    assert member.status == "revoked" and not is_member(member.user)

    client.post(
        f"{MEMBERSHIPS}{member.pk}/override/grant/", {"plan": "lifetime", "reason": "founder"}
    )
    member.refresh_from_db()
    assert (member.status, member.plan, member.access_until) == ("active", "lifetime", None)


def test_a_staff_revoke_outlasts_later_stripe_events(client, member):
    client.force_login(staff("bea", BILLING))
    client.post(f"{MEMBERSHIPS}{member.pk}/override/revoke/", {"reason": "fraud"})
    deliver(client, load_event("invoice_paid", fresh_id=True))  # a redelivered renewal
    member.refresh_from_db()
    assert member.status == "revoked"


def test_a_grant_never_shortens_what_stripe_gives(client, member):
    client.force_login(staff("bea", BILLING))
    before = member.access_until
    soon = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    client.post(f"{MEMBERSHIPS}{member.pk}/override/grant/", {"until": soon, "reason": "typo"})
    member.refresh_from_db()
    assert member.access_until == before


def test_billing_links_an_unmatched_customer_and_the_grant_applies(client, django_user_model):
    deliver(client, "invoice_paid")  # nobody has the fixtures' email yet: unmatched
    payment = Payment.objects.get()
    assert payment.user is None
    customer = StripeCustomer.objects.get(customer_id=CUSTOMER)
    client.force_login(staff("sam", SUPPORT))
    assert CUSTOMER in client.get(CUSTOMERS, {"unmatched": "yes"}).content.decode()
    assert "Unmatched customers" in client.get("/admin/").content.decode()
    page = client.get(f"{CUSTOMERS}{customer.pk}/change/").content.decode()
    assert f"invoice payment {payment.stripe_id} for nobody yet" in page and "15.00 EUR" in page
    assert client.post(f"{CUSTOMERS}{customer.pk}/link/").status_code == 403

    ada = django_user_model.objects.create_user("ada2", "someone-else@example.com")
    client.force_login(staff("bea", BILLING))
    page = client.post(f"{CUSTOMERS}{customer.pk}/link/", {"user": "nobody", "reason": "x"})
    assert "No single user" in page.content.decode()
    client.post(
        f"{CUSTOMERS}{customer.pk}/link/", {"user": "ada2", "reason": "same person"}, follow=True
    )

    payment.refresh_from_db()
    assert payment.user == ada
    assert Membership.objects.get(user=ada).changes.last().staff.username == "bea"
    assert CUSTOMER not in client.get(CUSTOMERS, {"unmatched": "yes"}).content.decode()


def test_payments_are_read_only_and_filterable(client, member):
    client.force_login(staff("bea", BILLING))
    payment = Payment.objects.get()
    listing = client.get("/admin/bootwebhooks_payments/payment/", {"status__exact": payment.status})
    assert payment.stripe_id in listing.content.decode()
    page = client.get(f"/admin/bootwebhooks_payments/payment/{payment.pk}/change/").content.decode()
    assert 'name="_save"' not in page  # a view page, no form to change it
    assert (
        client.post(f"/admin/bootwebhooks_payments/payment/{payment.pk}/change/", {}).status_code
        == 403
    )
