"""What the rest of the platform asks of memberships, and what staff do to them."""

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bootwebhooks.inbox.statements import Statement
from bootwebhooks.inbox.words import when
from bootwebhooks.memberships.models import Membership
from bootwebhooks.payments import customers


def is_member(user: Any, at: datetime | None = None) -> bool:
    """Whether `user` has access at `at` (now by default). No membership: not a member."""
    if user is None or not getattr(user, "pk", None):
        return False
    membership = Membership.objects.filter(user_id=user.pk).first()
    return membership is not None and membership.grants_access(at or timezone.now())


def link_customer(customer_id: str, user: Any, by_user: Any) -> Membership:
    """Staff link a Stripe customer to `user`: every fact of the customer becomes the user's,
    so grants that waited as unmatched apply now (`customer_linked`, received below); the
    previous owner, if any, loses them."""
    with transaction.atomic():
        customers.link(customer_id, user, by_user)
        return Membership.objects.get(user_id=user.pk)


def refresh_linked(sender, *, customer: Any, previous_user_id: int | None, by: Any, **kwargs):
    """`customer_linked` receiver: re-derive the previous owner's access and the new one's."""
    reason = f"staff linked {customer.customer_id}"
    for user_id in sorted({previous_user_id, customer.user_id} - {None}):
        Membership.refresh(user_id, staff=by, reason=reason)


def refresh_for_event(event: Any, users: Statement) -> None:
    """Re-derive the membership of each user the query `users` selects, locked in key order
    so two events touching the same users lock their memberships alike."""
    notes = getattr(event, "preview_notes", None)  # a retry preview's, see inbox.dispatch
    if notes is None:
        with transaction.atomic(savepoint=False):
            for membership, facts in Membership.locked_with_facts_of(users):
                membership.rederive(facts, event=event)
        return
    # A preview also says which memberships stay as they were: each one's state before.
    with connection.cursor() as cursor:
        cursor.execute(*users)
        user_ids = {user_id for (user_id,) in cursor.fetchall() if user_id is not None}
    for user_id in sorted(user_ids):
        before = _state(user_id)
        membership = Membership.refresh(user_id, event=event)
        if membership.state() == before:
            until = when(membership.access_until, "no end")
            notes.append(
                f"membership of {membership.user}: stays {membership.status}, access until {until}"
            )


def _state(user_id: int) -> dict[str, Any] | None:
    membership = Membership.objects.filter(user_id=user_id).first()
    return membership.state() if membership else None


def override_access(
    user: Any, kind: str, *, staff: Any, reason: str, until: datetime | None = None, plan: str = ""
) -> Membership:
    """Staff grant, extend or revoke a user's access by hand (see Membership.override)."""
    return Membership.override(user.pk, kind, staff=staff, reason=reason, until=until, plan=plan)
