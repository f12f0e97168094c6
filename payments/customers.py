"""Whose is it: finding the user an event's customer belongs to, from the payload alone."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.payments.models import Payment, StripeCustomer, Subscription


def resolve_user(
    customer: StripeCustomer | None,
    *,
    client_reference_id: Any = None,
    metadata: dict[str, Any] | None = None,
    email: str = "",
) -> AbstractBaseUser | None:
    """The user, in this order: Checkout's `client_reference_id`, `metadata.user_id`, the user
    the customer is already linked to, then the one user with the customer's email."""
    User = get_user_model()
    claimed = [_pk(value) for value in (client_reference_id, (metadata or {}).get("user_id"))]
    if wanted := [pk for pk in claimed if pk is not None]:
        found = User.objects.in_bulk(wanted)  # both clues in one query, taken in that order
        if user := next((found[pk] for pk in wanted if pk in found), None):
            return user
    if customer is not None and customer.user_id is not None:
        return customer.user
    if email:
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if len(matches) == 1:
            return matches[0]
    return None


def claim(
    customer_id: str,
    *,
    email: str = "",
    client_reference_id: Any = None,
    metadata: dict[str, Any] | None = None,
) -> AbstractBaseUser | None:
    """Resolve the user and, if the customer was nobody's, link it and hand over its facts.

    No customer id (a guest Checkout) still resolves from the other clues.
    """
    customer = StripeCustomer.locked(customer_id) if customer_id else None
    if customer is not None and email and not customer.email:
        customer.email = email
        customer.save(update_fields=["email"])
    user = resolve_user(
        customer,
        client_reference_id=client_reference_id,
        metadata=metadata,
        email=email or (customer.email if customer else ""),
    )
    if customer is not None and user is not None and customer.user_id is None:
        customer.claim_for(user)
    return user


_MAX_PK = 2**63 - 1


def _pk(value: Any) -> int | None:
    """A user id from a payload clue (anyone can put text in client_reference_id), or None."""
    text = str(value or "").strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdecimal()):
        return None
    number = int(text)
    return number if 0 < number <= _MAX_PK else None


def users_touched_by(event: WebhookEvent) -> set[int]:
    """Ids of the users whose facts `event` changed or whose customer it concerns (one query)."""
    facts = [model.objects.filter(last_event=event) for model in (Payment, Subscription)]
    if event.customer_id:
        facts += [
            model.objects.filter(customer_id=event.customer_id)
            for model in (Payment, Subscription, StripeCustomer)
        ]
    first, *rest = (rows.values_list("user_id", flat=True) for rows in facts)
    return {user_id for user_id in first.union(*rest) if user_id is not None}
