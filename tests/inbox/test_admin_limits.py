"""The admin holds up against what a payload or a form can hold: deep payloads show as a
tree down to a depth, then raw; every form checks lengths and ranges before the database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bootwebhooks.inbox.admin import TREE_DEPTH
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.models import Membership, StaffOverride
from bootwebhooks.memberships.roles import BILLING
from bootwebhooks.payments.models import StripeCustomer
from tests.staff import staff_in
from tests.stripe_events import student  # noqa: F401  (fixture)
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db
EVENTS = "/admin/bootwebhooks_inbox/webhookevent/"
MEMBERSHIPS = "/admin/bootwebhooks_memberships/membership/"


def nested(depth: int) -> dict:
    value: dict = {"leaf": "bottom"}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_an_event_nested_400_levels_deep_has_a_working_page_with_the_raw_payload(client):
    """The finding: such an event (2.5 KB, stored with 200) made its admin page a 500."""
    event = make_event("customer.created", {"id": "cus_deep", "object": "customer", **nested(400)})
    assert post_event(client, event).status_code == 200
    client.force_login(staff_in(BILLING))

    page = client.get(f"{EVENTS}{WebhookEvent.objects.get().pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<details open>") + html.count("<details>") <= 4 * TREE_DEPTH
    assert "show raw" in html
    assert "bottom" in html  # the deepest value is there, raw


def test_an_event_stored_too_deep_to_parse_still_has_a_page(client):
    too_deep = '{"id": "evt_bench1", "object": "event", "data": {"object": ' + "[" * 5000
    too_deep += "]" * 5000 + "}}"
    WebhookEvent.objects.create(
        stripe_id="evt_bench1", type="invoice.paid", stripe_created=timezone.now(), body=too_deep
    )
    client.force_login(staff_in(BILLING))
    page = client.get(f"{EVENTS}{WebhookEvent.objects.get().pk}/change/")
    assert page.status_code == 200
    assert "cannot be shown as a tree" in page.content.decode()


@pytest.fixture
def membership(student):  # noqa: F811
    return Membership.objects.create(user=student)


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("grant", {"days": "10", "reason": "x" * 300}, "reason"),
        ("revoke", {"reason": "x" * 300}, "reason"),
        ("grant", {"days": "999999999", "reason": "ok"}, "days"),
        ("grant", {"days": "0", "reason": "ok"}, "days"),
        ("grant", {"days": "-5", "reason": "ok"}, "days"),
        ("grant", {"until": "9999-12-31 23:59", "reason": "ok"}, "until"),
        ("grant", {"until": "2001-01-01 00:00", "reason": "ok"}, "until"),
        ("grant", {"days": "10", "reason": "nul\u0000here"}, "reason"),
    ],
)
def test_the_override_form_refuses_what_the_database_would(client, membership, kind, data, field):
    """The finding: a 300-character reason and days=999999999 were 500s."""
    client.force_login(staff_in(BILLING))
    response = client.post(f"{MEMBERSHIPS}{membership.pk}/override/{kind}/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not StaffOverride.objects.exists()


def test_extending_an_end_near_year_9999_stays_in_range(client, membership):
    membership.access_until = timezone.now().replace(year=9999, month=12, day=1)
    membership.save()
    client.force_login(staff_in(BILLING))
    url = f"{MEMBERSHIPS}{membership.pk}/override/grant/"
    response = client.post(url, {"days": "36500", "reason": "long goodwill"})
    assert response.status_code == 302
    until = StaffOverride.objects.get().until
    assert until - timezone.now() <= timedelta(days=2 * 36_500 + 1)


def test_the_link_form_refuses_an_overlong_reason(client):
    customer = StripeCustomer.objects.create(customer_id="cus_unmatched")
    client.force_login(staff_in(BILLING))
    url = f"/admin/bootwebhooks_payments/stripecustomer/{customer.pk}/link/"
    response = client.post(url, {"user": "nobody", "reason": "x" * 300})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
