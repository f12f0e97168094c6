"""Paid-until is what the subscription's current state paid for.

After a yearly -> monthly downgrade, Stripe credits the unused year on the next invoice as a
proration line with a negative amount (`parent.subscription_item_details.proration: true`,
API reference, the Invoice Line Item object) and bills the new month; the yearly invoice's
period still runs to the old yearly end. Neither may extend access or grace: a failed
monthly renewal gets grace from the end of the paid month, not from the old yearly end.
"""

from datetime import UTC, datetime, timedelta

import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment
from tests.stripe_events import deliver, membership_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("linked_student")]
YEAR_END = datetime(2027, 11, 6, tzinfo=UTC)
MONTH_END = datetime(2027, 2, 15, tzinfo=UTC)  # the month paid at the downgrade
HISTORY = (
    "customer_subscription_updated__yearly",
    "invoice_paid__yearly",
    "customer_subscription_updated__downgrade",
    "invoice_paid__downgrade",
    "invoice_payment_failed__after_downgrade",
    "customer_subscription_updated__past_due_after_downgrade",
)


def test_a_credit_line_extends_nothing(client, student):
    deliver(client, "invoice_paid__downgrade")

    payment = Payment.objects.get()
    assert (payment.period_end, payment.plan) == (MONTH_END, "monthly")


def test_the_replaced_yearly_invoice_pays_only_up_to_the_downgrade(client, student):
    for fixture in HISTORY[:4]:
        deliver(client, fixture)

    membership = membership_of(student)
    assert (membership.status, membership.plan, membership.access_until) == (
        "active",
        "monthly",
        MONTH_END,
    )


@pytest.mark.parametrize("order", [HISTORY, HISTORY[::-1]], ids=["in order", "reversed"])
def test_a_failed_monthly_renewal_gets_grace_from_the_paid_month(client, student, order):
    for fixture in order:
        deliver(client, fixture)

    membership = membership_of(student)
    assert (membership.status, membership.access_until) == (
        "grace",
        MONTH_END + timedelta(days=3),
    )
    assert not is_member(student, at=MONTH_END + timedelta(days=3))
    assert not is_member(student, at=YEAR_END)


def test_the_yearly_period_still_counts_while_it_is_current(client, student):
    deliver(client, "customer_subscription_updated__yearly")
    deliver(client, "invoice_paid__yearly")

    assert membership_of(student).access_until == YEAR_END
