"""From payment facts to access: a pure function, so any order of events that leaves the same
facts leaves the same membership (the property test in tests/memberships relies on it)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bootwebhooks.payments.models import Payment, Subscription
from bootwebhooks.payments.plans import LIFETIME

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


def derive(
    payments: Sequence[Payment],
    subscriptions: Sequence[Subscription],
    *,
    grace: timedelta,
    refund_revokes: bool,
) -> Access:
    """The membership one user's payments and subscriptions add up to (rules: docs/RULES.md)."""
    granting = [p for p in payments if p.grants(refund_revokes=refund_revokes)]
    revoked = [p for p in payments if p.revoked(refund_revokes=refund_revokes)]
    sub = max(subscriptions, key=_started, default=None)
    follows = {
        "subscription_id": sub.subscription_id if sub else "",
        "cancel_at_period_end": bool(sub and sub.cancel_at_period_end),
    }
    paid_until = _latest(p.period_end for p in granting)
    if any(p.paid and p.dispute == Payment.Dispute.OPEN for p in payments):
        return Access(SUSPENDED, _plan(granting, sub), paid_until, **follows)
    if any(p.plan == LIFETIME for p in granting):
        return Access(ACTIVE, LIFETIME, None, **follows)
    revoked_ends = {p.period_end for p in revoked}
    status, until = _from_subscription(sub, payments, paid_until, revoked_ends, grace)
    if any(p.period_end is None or until is None or p.period_end > until for p in revoked):
        # A refund or lost dispute took back access that nothing else still pays for.
        status = REVOKED
        until = until or min((p.period_start for p in revoked if p.period_start), default=None)
    return Access(status, _plan(granting, sub), until, **follows)


def _from_subscription(
    sub: Subscription | None,
    payments: Sequence[Payment],
    paid_until: datetime | None,
    revoked_ends: set[datetime | None],
    grace: timedelta,
) -> tuple[str, datetime | None]:
    failing = _failing(sub, payments, paid_until)
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


def _failing(
    sub: Subscription | None, payments: Sequence[Payment], paid_until: datetime | None
) -> bool:
    """An invoice (of the subscription followed, if known) failed for a period nothing has
    paid for yet: Stripe is retrying it."""
    return any(
        p.kind == Payment.Kind.INVOICE
        and p.failed
        and not p.paid
        and (sub is None or not sub.status or p.subscription_id == sub.subscription_id)
        and (paid_until is None or p.period_end is None or p.period_end > paid_until)
        for p in payments
    )


def _plan(granting: Sequence[Payment], sub: Subscription | None) -> str:
    if sub is not None and sub.plan:
        return sub.plan
    latest = max(
        (p for p in granting if p.plan),
        key=lambda p: (p.period_end or p.period_start or _EPOCH, p.stripe_id),
        default=None,
    )
    return latest.plan if latest else ""


def _started(sub: Subscription) -> tuple[datetime, str]:
    started = sub.started_at or sub.checkout_paid_at or _EPOCH
    return (started, sub.subscription_id)


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
