"""Only membership products grant access (plan from MEMBERSHIP_PLAN_PRICES, then the price's
lookup key, then a `metadata.plan` naming a configured plan); anything else is a fact only.

Shapes: a Checkout Session in `payment` mode carries no line items in its webhook payload
(Stripe's API reference: `line_items` is expandable only), so a one-off purchase is known by its
metadata; a subscription's items embed their price objects (`items.data[].price`).
"""

import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment, Subscription
from tests.stripe_events import MID_P1, P1_END, deliver, load_event, membership_of

pytestmark = pytest.mark.django_db
FOREVER = P1_END.replace(year=2040)


def test_a_donation_through_a_payment_link_grants_nothing(client, student):
    answer = deliver(client, "checkout_session_completed__donation")

    assert answer["status"] == "processed"
    payment = Payment.objects.get(stripe_id="pi_1TxPi00Donation0001")
    assert (payment.status, payment.amount, payment.plan, payment.product) == (
        "succeeded",
        500,
        "",
        "other",
    )
    assert membership_of(student).status == "none"
    assert not is_member(student, at=MID_P1)


def test_a_one_off_purchase_naming_another_plan_grants_nothing(client, student, settings):
    """`metadata.plan = "tshirt"` names no configured plan: not a membership, even where
    one-off purchases without a plan are configured to buy one."""
    settings.MEMBERSHIP_ONE_OFF_PLAN = "lifetime"
    deliver(client, "checkout_session_completed__payment", obj__metadata={"plan": "tshirt"})

    assert Payment.objects.get().product == "other"
    assert not is_member(student, at=FOREVER)


def test_one_off_purchases_buy_nothing_by_default(client, student):
    deliver(client, "checkout_session_completed__payment", obj__metadata={})

    assert not is_member(student, at=MID_P1)


def test_a_subscription_to_another_product_grants_nothing(client, linked_student):
    """The newsletter's price is monthly, but no interval makes a membership."""
    deliver(client, "customer_subscription_created__newsletter")

    subscription = Subscription.objects.get(subscription_id="sub_1TxSubNewsletter01")
    assert (subscription.status, subscription.plan, subscription.product) == (
        "active",
        "",
        "other",
    )
    assert membership_of(linked_student).status == "none"
    assert not is_member(linked_student, at=MID_P1)


def test_a_product_id_in_the_price_map_makes_it_a_membership(client, linked_student, settings):
    settings.MEMBERSHIP_PLAN_PRICES = {"prod_TxNewsletterAcme": "monthly"}
    deliver(client, "customer_subscription_created__newsletter")

    assert membership_of(linked_student).plan == "monthly"
    assert is_member(linked_student, at=MID_P1)


def test_the_price_map_comes_before_the_lookup_key(client, linked_student, settings):
    settings.MEMBERSHIP_PLAN_PRICES = {"price_1TxMonthlyAcme0001": "yearly"}
    deliver(client, "customer_subscription_created")

    assert membership_of(linked_student).plan == "yearly"


def test_metadata_names_a_plan_only_where_it_is_configured(client, linked_student, settings):
    settings.MEMBERSHIP_PLAN_PRICES = {}
    deliver(
        client,
        "customer_subscription_created__newsletter",
        obj__metadata={"plan": "monthly"},
    )
    assert membership_of(linked_student).plan == "monthly"

    deliver(
        client,
        "customer_subscription_updated",
        obj__id="sub_1TxSubNewsletter01",
        obj__items={"object": "list", "data": []},
        obj__metadata={"plan": "premium-newsletter"},
    )
    assert Subscription.objects.get(subscription_id="sub_1TxSubNewsletter01").plan == ""


def test_other_products_show_as_such_in_the_admin(client, student, admin_client):
    deliver(client, "checkout_session_completed__donation")

    page = admin_client.get("/admin/bootwebhooks_payments/payment/").content.decode()
    assert "not a membership product" in page


def test_a_paid_checkout_holds_access_until_its_subscription_says_what_it_sells(
    client, linked_student
):
    deliver(
        client,
        "checkout_session_completed",
        obj__subscription="sub_1TxSubNewsletter01",
        created=1793491206,
    )
    assert membership_of(linked_student).status == "active"  # nothing known yet: held open

    deliver(client, "customer_subscription_created__newsletter")

    assert membership_of(linked_student).status == "none"
    assert not is_member(linked_student, at=MID_P1)


def test_a_plan_object_of_an_older_api_version_reads_as_its_price(client, linked_student, settings):
    """Before prices (API versions of 2019 and earlier) an item carried a `plan` object (no
    lookup key): its id maps like a price id."""
    settings.MEMBERSHIP_PLAN_PRICES = {"gold_monthly": "monthly"}
    items = load_event("customer_subscription_created__legacy")["data"]["object"]["items"]
    price = items["data"][0].pop("price")
    items["data"][0]["plan"] = {
        "id": "gold_monthly",
        "object": "plan",
        "product": price["product"],
        "interval": "month",
        "amount": price["unit_amount"],
        "currency": price["currency"],
        "active": True,
    }

    deliver(
        client,
        "customer_subscription_created__legacy",
        api_version="2019-12-03",
        obj__items=items,
    )

    assert membership_of(linked_student).plan == "monthly"
