"""From payment facts to access: a pure function, so any order of events that leaves the same
facts leaves the same membership (the property test in tests/memberships relies on it)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bootwebhooks.payments.models import Payment, Subscription
from bootwebhooks.payments.plans import LIFETIME, Product

NONE = "none"
ACTIVE = "active"
TRIALING = "trialing"
GRACE = "grace"
ENDED = "ended"
SUSPENDED = "suspended"
REVOKED = "revoked"

GRANT = "grant"
REVOKE = "revoke"

ENDING_STATUSES = frozenset({"canceled", "incomplete_expired"})
LAPSED_STATUSES = frozenset({"unpaid", "paused"})
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Access:
    status: str
    plan: str
    access_until: datetime | None
    subscription_id: str = ""
    cancel_at_period_end: bool = False


GRANTING = (ACTIVE, TRIALING, GRACE)
NO_ACCESS = Access(NONE, "", None)


def derive(
    payments: Sequence[Payment],
    subscriptions: Sequence[Subscription],
    *,
    grace: timedelta,
    refund_revokes: bool,
    inquiry_suspends: bool = False,
) -> Access:
    """The membership one user's payments and subscriptions add up to (rules: docs/RULES.md).

    Only membership products count. Each subscription grants on its own (with its own
    invoices), and so do payments outside any subscription we know; the membership shows the
    grant that reaches furthest. An open dispute suspends everything; a paid lifetime purchase
    outranks every subscription.
    """
    counted = membership_payments(payments, subscriptions)
    granting = [
        p
        for p in counted
        if p.grants(refund_revokes=refund_revokes, inquiry_suspends=inquiry_suspends)
    ]
    best = _furthest(
        grants(
            payments,
            subscriptions,
            grace=grace,
            refund_revokes=refund_revokes,
            inquiry_suspends=inquiry_suspends,
        )
    )
    if any(p.suspends(inquiry_suspends=inquiry_suspends) for p in counted):
        paid_until = _latest(p.period_end for p in granting)
        return replace(
            best, status=SUSPENDED, access_until=paid_until, plan=best.plan or _plan(granting)
        )
    if any(p.plan == LIFETIME for p in granting):
        return Access(ACTIVE, LIFETIME, None)
    return best


def grants(
    payments: Sequence[Payment],
    subscriptions: Sequence[Subscription],
    *,
    grace: timedelta,
    refund_revokes: bool,
    inquiry_suspends: bool = False,
) -> list[Access]:
    """What each membership subscription grants on its own (`subscription_id` says which; one
    more, with an empty id, for payments outside any subscription we know), before disputes
    and lifetime purchases are weighed. Support pages show these; `derive` picks one."""
    subs = _membership_subscriptions(payments, subscriptions)
    groups: dict[str, list[Payment]] = {sub_id: [] for sub_id in subs}
    for payment in membership_payments(payments, subscriptions):
        groups.setdefault(payment.subscription_id, []).append(payment)
    return [
        _grant(sub_id, subs.get(sub_id), group, grace, refund_revokes, inquiry_suspends)
        for sub_id, group in sorted(groups.items())
    ]


def membership_payments(
    payments: Sequence[Payment], subscriptions: Sequence[Subscription]
) -> list[Payment]:
    """The payments for a membership product; the rest (a donation, a T-shirt) never count."""
    subs = _membership_subscriptions(payments, subscriptions)
    return [p for p in payments if _counts(p, subs)]


def _membership_subscriptions(
    payments: Sequence[Payment], subscriptions: Sequence[Subscription]
) -> dict[str, Subscription]:
    others = {p.subscription_id for p in payments if p.product == Product.OTHER}
    return {s.subscription_id: s for s in subscriptions if s.plan or _awaited(s, others)}


def _awaited(sub: Subscription, others: set[str]) -> bool:
    """Known from a paid Checkout only: nothing says yet what it sells (its items arrive with
    the subscription's own events). It holds the door open until then, unless its Checkout's
    metadata or one of its invoices says it is some other product."""
    return not sub.status and sub.product == Product.UNKNOWN and sub.subscription_id not in others


def _counts(payment: Payment, subs: dict[str, Subscription]) -> bool:
    """A membership payment: its own prices say so, or (its price unknown) its subscription's
    do."""
    if payment.plan:
        return True
    sub = subs.get(payment.subscription_id)
    return payment.product == Product.UNKNOWN and sub is not None and bool(sub.plan)


def _grant(
    sub_id: str,
    sub: Subscription | None,
    payments: Sequence[Payment],
    grace: timedelta,
    refund_revokes: bool,
    inquiry_suspends: bool,
) -> Access:
    """What one subscription grants, from its snapshot (if we have one) and its payments; the
    payments outside any subscription have `sub_id` ""."""
    granting = [
        p
        for p in payments
        if p.grants(refund_revokes=refund_revokes, inquiry_suspends=inquiry_suspends)
    ]
    revoked = [p for p in payments if p.revoked(refund_revokes=refund_revokes)]
    paid_until = _latest(_paid_end(p, sub) for p in granting)
    revoked_ends = {p.period_end for p in revoked}
    status, until = _from_subscription(sub, payments, paid_until, revoked_ends, grace)
    if any(p.period_end is None or until is None or p.period_end > until for p in revoked):
        # A refund or lost dispute took back access that nothing else still pays for.
        status = REVOKED
        until = until or min((p.period_start for p in revoked if p.period_start), default=None)
    if sub is None:  # its invoices (or one-off payments) only
        return Access(status, _plan(granting), until, sub_id)
    return Access(status, sub.plan, until, sub_id, sub.cancel_at_period_end)


def _paid_end(payment: Payment, sub: Subscription | None) -> datetime | None:
    """How far a paid invoice carries its subscription: to its period's end, except an invoice
    of a replaced interval (it began before the current period and ends after it: a yearly
    invoice after a downgrade to monthly), which pays only up to the current period."""
    start, end = payment.period_start, payment.period_end
    if (
        sub is None
        or not sub.status
        or None
        in (
            start,
            end,
            sub.current_period_start,
            sub.current_period_end,
        )
    ):
        return end
    if start < sub.current_period_start and end > sub.current_period_end:
        return sub.current_period_start
    return end


def _furthest(grants: Sequence[Access]) -> Access:
    """The grant that reaches furthest; if none grants, the latest ending (a revocation over
    a plain end on the same day); an `incomplete` subscription's nothing shows nothing."""
    granting = [g for g in grants if g.status in GRANTING]
    if granting:
        return max(granting, key=lambda g: (g.access_until or _EPOCH, -GRANTING.index(g.status)))
    lapsed = [g for g in grants if g.status != NONE]
    if lapsed:
        return max(lapsed, key=lambda g: (g.access_until or _EPOCH, g.status == REVOKED))
    return NO_ACCESS


def _from_subscription(
    sub: Subscription | None,
    payments: Sequence[Payment],
    paid_until: datetime | None,
    revoked_ends: set[datetime | None],
    grace: timedelta,
) -> tuple[str, datetime | None]:
    failing = _failing(payments, paid_until)
    if sub is None or not sub.status:
        # Paid at Checkout, but neither the subscription nor its invoice has arrived yet:
        # hold the door open for the grace period rather than turn a paying member away.
        checkout = sub.checkout_paid_at + grace if sub and sub.checkout_paid_at else None
        if failing and paid_until:
            return GRACE, paid_until + grace
        until = _latest([paid_until, checkout])
        return (ACTIVE if until else NONE), until
    base = _latest([paid_until, sub.current_period_start])
    if sub.status == "past_due" or (sub.status in ("active", "trialing") and failing):
        return (GRACE, base + grace) if base else (NONE, None)
    if sub.status in ("active", "trialing"):
        end = None if sub.current_period_end in revoked_ends else sub.current_period_end
        return (TRIALING if sub.status == "trialing" else ACTIVE), _latest([paid_until, end])
    if sub.status in ENDING_STATUSES:
        ended = sub.ended_at or sub.snapshot_at
        return ENDED, min(paid_until, ended) if paid_until and ended else ended
    if sub.status in LAPSED_STATUSES:
        return ENDED, paid_until or sub.current_period_start
    return (ACTIVE if paid_until else NONE), paid_until  # incomplete: nothing paid yet


def _failing(payments: Sequence[Payment], paid_until: datetime | None) -> bool:
    """An invoice of this subscription failed for a period nothing has paid for yet: Stripe is
    retrying it."""
    return any(
        p.kind == Payment.Kind.INVOICE
        and p.failed
        and not p.paid
        and (paid_until is None or p.period_end is None or p.period_end > paid_until)
        for p in payments
    )


def _plan(granting: Sequence[Payment]) -> str:
    latest = max(
        (p for p in granting if p.plan),
        key=lambda p: (p.period_end or p.period_start or _EPOCH, p.stripe_id),
        default=None,
    )
    return latest.plan if latest else ""


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    return max((v for v in values if v is not None), default=None)


def overridden(derived: Access, kind: str, until: datetime | None, plan: str) -> Access:
    """A staff override applied on top of what the facts give."""
    if kind == REVOKE:
        return replace(derived, status=REVOKED, access_until=until)
    if plan == LIFETIME and until is None:
        return replace(derived, status=ACTIVE, plan=LIFETIME, access_until=None)
    if derived.status in (ACTIVE, TRIALING) and (
        derived.access_until is None or until is None or derived.access_until >= until
    ):
        return derived  # the facts already give at least as much
    return replace(derived, status=ACTIVE, plan=plan or derived.plan, access_until=until)
