"""One person as support sees them: their Stripe facts, their membership, and why it is what
it is, in plain words.

A person is a user, or a Stripe customer nobody is linked to yet (an unmatched payer). The
reason names what decided the status (a payment, a subscription, a refund, a dispute, a staff
member) and when, read from the same facts and overrides `access.derive` reads, so the page
and the membership cannot disagree.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.users import email_of
from bootwebhooks.inbox.words import day, money, sentence, span, when
from bootwebhooks.memberships import access
from bootwebhooks.memberships.models import Membership, MembershipChange, StaffOverride
from bootwebhooks.payments.admin import product_display
from bootwebhooks.payments.models import Charge, Payment, StripeCustomer, Subscription
from bootwebhooks.payments.plans import LIFETIME

EVENT_LIMIT = 200  # the timeline's newest events; the event list has the rest
WAITING = "waiting for a link"
NOT_A_MEMBERSHIP = "not a membership product"


@dataclass
class Person:
    user: Any  # None for an unmatched payer
    customers: list[StripeCustomer]
    unlinked: list[StripeCustomer]  # customers with the user's email that nobody is linked to
    subscriptions: list[Subscription]
    payments: list[Payment]
    charges: list[Charge]
    membership: Membership | None
    overrides: list[StaffOverride] = field(default_factory=list)
    changes: list[MembershipChange] = field(default_factory=list)
    events: list[WebhookEvent] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.user is None:
            customer = self.customers[0]
            return customer.email or customer.customer_id
        full = self.user.get_full_name() if hasattr(self.user, "get_full_name") else ""
        return full or self.user.get_username()

    @property
    def status(self) -> str:
        if self.user is None:
            return WAITING
        return self.membership.status if self.membership else access.NONE

    def charges_of(self, payment: Payment) -> list[Charge]:
        keys = {payment.stripe_id, payment.payment_intent_id} - {""}
        return [c for c in self.charges if c.payment_intent_id in keys or c.invoice_id in keys]

    def payment_of(self, charge: Charge) -> Payment | None:
        return next((p for p in self.payments if charge in self.charges_of(p)), None)

    def charge_rows(self) -> list[tuple[Charge, Payment | None]]:
        return [(charge, self.payment_of(charge)) for charge in self.charges]

    def subscription_rows(self) -> list[tuple[Subscription, str]]:
        return [(sub, product_words(sub)) for sub in self.subscriptions]


def for_user(user: Any) -> Person:
    linked = list(StripeCustomer.objects.filter(user=user).order_by("customer_id"))
    unlinked = []
    if email := email_of(user):
        unlinked = list(StripeCustomer.objects.filter(user__isnull=True, email__iexact=email))
    ids = [c.customer_id for c in linked]
    membership = Membership.objects.filter(user=user).first()
    return _gather(user, linked, unlinked, Q(user=user) | Q(customer_id__in=ids), membership)


def for_customer(customer: StripeCustomer) -> Person:
    """The payer behind a customer nobody is linked to."""
    return _gather(None, [customer], [], Q(customer_id=customer.customer_id), None)


def _gather(user, customers, unlinked, mine: Q, membership: Membership | None) -> Person:
    payments = list(Payment.objects.filter(mine).order_by("-period_start", "-pk"))
    subscriptions = list(Subscription.objects.filter(mine).order_by("-started_at", "-pk"))
    ids = {c.customer_id for c in customers}
    keys = ({p.stripe_id for p in payments} | {p.payment_intent_id for p in payments}) - {""}
    charges = list(
        Charge.objects.filter(
            Q(customer_id__in=ids) | Q(payment_intent_id__in=keys) | Q(invoice_id__in=keys)
        ).order_by("-pk")
    )
    person = Person(user, customers, unlinked, subscriptions, payments, charges, membership)
    if membership is not None:
        person.overrides = list(membership.overrides.select_related("staff"))
        person.changes = list(
            membership.changes.select_related("event", "staff").order_by("-at", "-pk")
        )
    person.events = _events(person, ids)
    return person


def _events(person: Person, customer_ids: set[str]) -> list[WebhookEvent]:
    """Every event about the person's objects, newest first: subscription events carry no
    email, and disputes or invoice_payment.paid no customer, so ids and links find them."""
    objects = {s.subscription_id for s in person.subscriptions}
    objects |= {p.stripe_id for p in person.payments} | {c.charge_id for c in person.charges}
    linked = {row.last_event_id for row in [*person.payments, *person.subscriptions]}
    linked |= {c.last_event_id for c in person.charges} | {c.event_id for c in person.changes}
    disputes = {c.dispute_event_id for c in person.charges} - {""}
    match = Q(customer_id__in=customer_ids) | Q(object_id__in=objects - {""})
    match |= Q(pk__in=linked - {None}) | Q(stripe_id__in=disputes)
    events = WebhookEvent.objects.filter(match).defer("headers")
    return list(events.order_by("-received_at", "-pk")[:EVENT_LIMIT])


# --- why -------------------------------------------------------------------------------------


@dataclass
class Reason:
    """The status in words: `headline` answers "why?", `notes` add what else matters."""

    status: str
    headline: str
    notes: list[str] = field(default_factory=list)
    cause: MembershipChange | None = None  # the change that set the current status


def why(person: Person, now: datetime | None = None) -> Reason:
    now = now or timezone.now()
    if person.user is None:
        return Reason(WAITING, _waiting(person.customers[0], person.payments))
    status = person.status
    explain = _EXPLAIN.get(status, _explain_none)
    reason = Reason(status, explain(person, now))
    reason.cause = next((c for c in person.changes if c.after.get("status") == status), None)
    reason.notes = _refund_notes(person) + _waiting_notes(person) + _subscription_notes(person)
    return reason


def _explain_active(person: Person, now: datetime) -> str:
    m = person.membership
    override = _latest_override(person)
    if override and override.kind == StaffOverride.Kind.GRANT and not _facts_grant(person):
        return sentence(
            f"Active {_until(m)}, granted by staff member {_staff(override)} on "
            f"{day(override.at)}: “{override.reason}”"
        )
    granting = _granting(person)
    trial = "Trialing" if m.status == access.TRIALING else "Active"
    if granting is not None:
        return sentence(f"{trial} {_until(m)}, paid by {_payment_words(granting)}")
    sub = _followed(person)
    if sub is not None and sub.status in ("active", "trialing"):
        return sentence(f"{trial} {_until(m)}: subscription {sub.subscription_id} is {sub.status}")
    if sub is not None and sub.checkout_paid_at:
        return sentence(
            f"Active {_until(m)}: paid at Checkout on {day(sub.checkout_paid_at)}; the "
            "subscription and its invoice have not arrived yet, so access is held open for the "
            "grace period"
        )
    return sentence(f"{trial} {_until(m)}")


def _explain_grace(person: Person, now: datetime) -> str:
    m = person.membership
    failed = next((p for p in person.payments if p.failed and not p.paid), None)
    days = app_settings.MEMBERSHIP_GRACE_DAYS
    sub = _followed(person)
    if failed is not None:
        cause = (
            f"invoice {failed.stripe_id} ({money(failed.amount, failed.currency)}) failed "
            f"on {day(failed.updated_at)} and Stripe is retrying it"
        )
    elif sub is not None and sub.status == "past_due":
        cause = f"subscription {sub.subscription_id} is past due (a renewal was not paid)"
    else:
        cause = "a renewal has not been paid"
    return sentence(
        f"In grace until {when(m.access_until)}: {cause}; access continues {days} days past "
        "the last paid period, then ends unless the payment goes through"
    )


def _explain_ended(person: Person, now: datetime) -> str:
    m = person.membership
    sub = _followed(person)
    if sub is not None and sub.status in access.ENDING_STATUSES:
        return sentence(
            f"Ended on {when(m.access_until)}: subscription {sub.subscription_id} was "
            f"{sub.status.replace('_', ' ')}"
        )
    if sub is not None and sub.status in access.LAPSED_STATUSES:
        return sentence(
            f"Ended on {when(m.access_until)}: subscription {sub.subscription_id} is "
            f"{sub.status}, so nothing pays beyond the last paid period"
        )
    return sentence(f"Ended on {when(m.access_until)}: the last paid period ran out")


def _explain_suspended(person: Person, now: datetime) -> str:
    suspending = {Payment.Dispute.OPEN}
    if app_settings.MEMBERSHIP_SUSPEND_ON_INQUIRY:
        suspending.add(Payment.Dispute.INQUIRY)
    disputed = [c for c in person.charges if c.dispute in suspending]
    if not disputed:
        return "Suspended: a dispute is open on one of the payments."
    charge = disputed[0]
    if charge.dispute == Payment.Dispute.INQUIRY:
        return sentence(
            f"Suspended since {when(charge.dispute_at)}: the card issuer opened an inquiry on "
            f"{_charge_words(person, charge)} (no money withdrawn yet), and inquiries suspend "
            "access here (MEMBERSHIP_SUSPEND_ON_INQUIRY)"
        )
    return sentence(
        f"Suspended since {when(charge.dispute_at)}: the customer disputed "
        f"{_charge_words(person, charge)}. No access while the dispute is open; it comes back "
        "if the dispute is won and is revoked if it is lost"
    )


def _explain_revoked(person: Person, now: datetime) -> str:
    override = _latest_override(person)
    if override is not None and override.kind == StaffOverride.Kind.REVOKE:
        return sentence(
            f"Revoked by staff member {_staff(override)} on {when(override.at)}: "
            f"“{override.reason}”. A staff revoke stands until a staff grant, whatever Stripe "
            "sends"
        )
    lost = [c for c in person.charges if c.dispute == Payment.Dispute.LOST]
    if lost:
        return sentence(
            f"Revoked: the dispute on {_charge_words(person, lost[0])} was lost on "
            f"{when(lost[0].dispute_at)}; the bank took the money back"
        )
    refunded = [p for p in person.payments if p.paid and p.fully_refunded]
    if refunded:
        payment = refunded[0]
        return sentence(
            f"Revoked: {_payment_words(payment)} was refunded in full (recorded "
            f"{when(payment.updated_at)}); a full refund takes back the access it paid for"
        )
    return "Revoked."


def _explain_none(person: Person, now: datetime) -> str:
    waiting = [c for c in person.unlinked if _paid(person, c)]
    if waiting:
        return sentence(
            f"No access yet: waiting for a link. Stripe customer {waiting[0].customer_id} "
            f"({waiting[0].email}) paid, but is not linked to this user; a billing operator "
            "links it, then the payment applies"
        )
    if any(p.failed and not p.paid for p in person.payments):
        return "No access: no payment has gone through yet (the last one failed)."
    return "No access: no paid membership payment has been recorded for this user."


_EXPLAIN = {
    access.ACTIVE: _explain_active,
    access.TRIALING: _explain_active,
    access.GRACE: _explain_grace,
    access.ENDED: _explain_ended,
    access.SUSPENDED: _explain_suspended,
    access.REVOKED: _explain_revoked,
    access.NONE: _explain_none,
}


def _waiting(customer: StripeCustomer, payments: list[Payment]) -> str:
    paid = [p for p in payments if p.paid]
    what = f"paid {_payment_words(paid[0])}" if paid else "has no paid payment yet"
    deleted = " It was deleted in Stripe." if customer.deleted_at else ""
    return sentence(
        f"Waiting for a link: Stripe customer {customer.customer_id} "
        f"({customer.email or 'no email'}) {what}, but no user could be found for it (no "
        "user id in the payment, no single user with that email). A billing operator links it "
        f"to a user, then the payment applies to that user's membership.{deleted}"
    )


def _refund_notes(person: Person) -> list[str]:
    """Refunds that left access in place, and why."""
    notes = []
    for charge in person.charges:
        if not charge.amount_refunded:
            continue
        payment = person.payment_of(charge)
        if payment is None:
            notes.append(
                sentence(
                    f"A refund of charge {charge.charge_id} is recorded but not tied to any "
                    "payment yet, so it has not changed access: since Stripe's API version "
                    "2025-03-31 a charge no longer names its invoice, and the refund applies "
                    "when Stripe's invoice_payment.paid for that invoice arrives"
                )
            )
        elif not payment.fully_refunded:
            notes.append(
                sentence(
                    f"Part of {_payment_words(payment)} was refunded "
                    f"({money(payment.amount_refunded, payment.currency)}): partial refunds "
                    "never take access away"
                )
            )
        elif not app_settings.MEMBERSHIP_REFUND_REVOKES:
            notes.append(
                sentence(
                    f"A full refund of {_payment_words(payment)} does not revoke access "
                    "here (MEMBERSHIP_REFUND_REVOKES is off)"
                )
            )
        elif person.status in Membership.GRANTING:
            notes.append(
                sentence(
                    f"The full refund of {_payment_words(payment)} leaves access in place: "
                    "other payments still pay for it"
                )
            )
    return notes


def _waiting_notes(person: Person) -> list[str]:
    if person.status == access.NONE:
        return []  # the headline says it
    return [
        sentence(
            f"Stripe customer {c.customer_id} has the same email but is linked to nobody: its "
            "payments wait for a billing operator to link it"
        )
        for c in person.unlinked
    ]


def _subscription_notes(person: Person) -> list[str]:
    m = person.membership
    if m is None or not m.cancel_at_period_end or m.status not in Membership.GRANTING:
        return []
    return [sentence(f"Will not renew: the subscription cancels at {when(m.access_until)}")]


# --- small words ----------------------------------------------------------------------------


def plan_words(plan: str) -> str:
    return plan or NOT_A_MEMBERSHIP


def product_words(row: Subscription | Payment) -> str:
    """The membership plan a subscription or payment is for, or what else it is ("not a
    membership product", "unknown price: needs review"), as the payments admin says it."""
    return product_display(row)


def _payment_words(payment: Payment) -> str:
    kind = "invoice" if payment.kind == Payment.Kind.INVOICE else "one-off payment"
    period = ""
    if payment.plan == LIFETIME and payment.period_end is None:
        period = ", lifetime"
    elif payment.period_end:
        period = f" for {span(payment.period_start, payment.period_end)}"
    return f"{kind} {payment.stripe_id} ({money(payment.amount, payment.currency)}{period})"


def _charge_words(person: Person, charge: Charge) -> str:
    """`charge ch_... of invoice in_... (15.00 USD for ...)`."""
    payment = person.payment_of(charge)
    paid = f" of {_payment_words(payment)}" if payment else ""
    return f"charge {charge.charge_id}{paid}"


def _until(m: Membership) -> str:
    if m.access_until is None:
        return "for life" if m.plan == LIFETIME else "with no end date"
    return f"until {when(m.access_until)}"


def _latest_override(person: Person) -> StaffOverride | None:
    return person.overrides[0] if person.overrides else None


def _staff(override: StaffOverride) -> str:
    return override.staff.get_username() if override.staff else "(deleted user)"


def _followed(person: Person) -> Subscription | None:
    sub_id = person.membership.subscription_id if person.membership else ""
    return next((s for s in person.subscriptions if s.subscription_id == sub_id), None)


def _granting(person: Person) -> Payment | None:
    granting = [
        p
        for p in access.membership_payments(person.payments, person.subscriptions)
        if p.grants(
            refund_revokes=app_settings.MEMBERSHIP_REFUND_REVOKES,
            inquiry_suspends=app_settings.MEMBERSHIP_SUSPEND_ON_INQUIRY,
        )
    ]
    lifetime = [p for p in granting if p.plan == LIFETIME and p.period_end is None]
    if lifetime:
        return lifetime[0]
    dated = [p for p in granting if p.period_end]
    return max(dated, key=lambda p: p.period_end, default=None)


def _facts_grant(person: Person) -> bool:
    """Whether Stripe's facts alone give at least the access the membership has now."""
    m = person.membership
    paid = _granting(person)
    if paid is None:
        sub = _followed(person)
        end = sub.current_period_end if sub and sub.status in ("active", "trialing") else None
        return end is not None and m.access_until is not None and end >= m.access_until
    if paid.period_end is None:
        return True
    return m.access_until is not None and paid.period_end >= m.access_until


def _paid(person: Person, customer: StripeCustomer) -> bool:
    return Payment.objects.filter(customer_id=customer.customer_id, paid=True).exists()
