from datetime import UTC, datetime, timedelta

import pytest

from bootwebhooks.memberships import is_member
from tests.stripe_events import MID_P1, P1_END, P1_START, P2_END, deliver, membership_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("linked_student")]


@pytest.mark.parametrize(
    "fixture", ["customer_subscription_created", "customer_subscription_created__legacy"]
)
def test_an_active_subscription_grants_to_its_period_end(client, student, fixture):
    deliver(client, fixture)

    membership = membership_of(student)
    assert (membership.status, membership.plan, membership.access_until) == (
        "active",
        "monthly",
        P1_END,
    )


@pytest.mark.parametrize(
    "fixture", ["customer_subscription_updated", "customer_subscription_updated__legacy"]
)
def test_a_renewed_period_extends_access_in_both_shapes(client, student, fixture):
    deliver(client, "customer_subscription_created")
    deliver(client, fixture)

    assert membership_of(student).access_until == P2_END


def test_a_trial_grants_to_its_end(client, student):
    deliver(client, "customer_subscription_updated__trialing")

    membership = membership_of(student)
    assert membership.status == "trialing"
    assert membership.access_until == P1_START + timedelta(days=14)
    assert is_member(student, at=MID_P1 - timedelta(days=2))


def test_past_due_gives_grace_past_the_paid_period(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_subscription_updated__past_due")

    membership = membership_of(student)
    assert (membership.status, membership.access_until) == ("grace", P1_END + timedelta(days=3))


def test_cancel_at_period_end_keeps_access_to_the_period_end(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_subscription_updated__cancel_at_period_end")

    membership = membership_of(student)
    assert membership.cancel_at_period_end
    assert (membership.status, membership.access_until) == ("active", P1_END)
    assert is_member(student, at=P1_END - timedelta(seconds=1))


@pytest.mark.parametrize(
    "fixture", ["customer_subscription_deleted", "customer_subscription_deleted__legacy"]
)
def test_deletion_ends_access_when_stripe_ended_it(client, student, fixture):
    deliver(client, "invoice_paid")
    deliver(client, fixture)

    membership = membership_of(student)
    assert (membership.status, membership.access_until) == ("ended", P1_END)
    assert not is_member(student, at=P1_END)


def test_an_immediate_cancel_ends_access_at_once(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_subscription_updated__canceled")

    ended = datetime(2026, 11, 13, tzinfo=UTC)
    assert (membership_of(student).status, membership_of(student).access_until) == (
        "ended",
        ended,
    )
    assert not is_member(student, at=ended)


@pytest.mark.parametrize(
    "fixture", ["customer_subscription_updated__unpaid", "customer_subscription_paused"]
)
def test_unpaid_or_paused_ends_access_after_the_paid_period(client, student, fixture):
    deliver(client, "invoice_paid")
    deliver(client, fixture)

    membership = membership_of(student)
    assert (membership.status, membership.access_until) == ("ended", P1_END)
    assert not is_member(student, at=P1_END)


def test_a_resumed_subscription_grants_again(client, student):
    deliver(client, "customer_subscription_paused")
    deliver(client, "customer_subscription_resumed")

    assert membership_of(student).status == "active"
    assert is_member(student, at=datetime(2027, 1, 1, tzinfo=UTC))


def test_a_plan_change_follows_the_price_lookup_key(client, student):
    deliver(client, "customer_subscription_created")
    deliver(client, "customer_subscription_updated__yearly")

    membership = membership_of(student)
    assert membership.plan == "yearly"
    assert membership.access_until == datetime(2027, 11, 6, tzinfo=UTC)


def test_the_plan_mapping_is_a_setting(client, student, settings):
    settings.MEMBERSHIP_PLAN_PRICES = {}
    settings.MEMBERSHIP_PLAN_LOOKUP_KEYS = {"monthly": "yearly"}
    deliver(client, "customer_subscription_created")

    assert membership_of(student).plan == "yearly"


def test_an_older_snapshot_is_superseded(client, student):
    deliver(client, "customer_subscription_updated")
    answer = deliver(client, "customer_subscription_created")

    assert answer["status"] == "superseded"
    assert membership_of(student).access_until == P2_END


def test_a_same_second_tie_goes_to_the_higher_event_id(client, student):
    later = deliver(client, "customer_subscription_updated__past_due", id="evt_1TxTie0000000002")
    earlier = deliver(
        client,
        "customer_subscription_updated",
        id="evt_1TxTie0000000001",
        created=1796086800,  # the same second as the past_due snapshot
    )

    assert (later["status"], earlier["status"]) == ("processed", "superseded")
    assert membership_of(student).status == "grace"


def test_nothing_outlives_a_canceled_snapshot(client, student):
    deliver(client, "customer_subscription_deleted")
    answer = deliver(client, "customer_subscription_updated", created=2_000_000_000)

    assert answer["status"] == "superseded"
    assert membership_of(student).status == "ended"


def test_an_incomplete_subscription_grants_nothing_until_paid(client, student):
    deliver(client, "customer_subscription_created", obj__status="incomplete")

    assert membership_of(student).status == "none"
    assert not is_member(student, at=MID_P1)


def test_an_expired_incomplete_subscription_ends(client, student):
    deliver(client, "customer_subscription_created", obj__status="incomplete")
    deliver(
        client,
        "customer_subscription_updated",
        obj__status="incomplete_expired",
        obj__ended_at=1793577600,  # a day later
    )

    assert membership_of(student).status == "ended"
    assert not is_member(student, at=MID_P1)
