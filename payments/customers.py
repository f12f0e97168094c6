"""Whose is it: finding the user an event's customer belongs to, from the payload alone."""

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils.module_loading import import_string

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import statements
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.users import email_field, parse_pk
from bootwebhooks.payments.models import Payment, StripeCustomer, Subscription
from bootwebhooks.payments.signals import customer_linked


def resolve_user(
    customer: StripeCustomer | None,
    *,
    client_reference_id: Any = None,
    metadata: dict[str, Any] | None = None,
    email: str = "",
) -> Any:
    """The user's primary key, in this order: Checkout's `client_reference_id`,
    `metadata.user_id`, the user the customer is already linked to, then the one user with
    the customer's email. Facts need only the key, so a linked customer costs no query."""
    User = get_user_model()
    claimed = [parse_pk(value) for value in (client_reference_id, (metadata or {}).get("user_id"))]
    if wanted := [pk for pk in claimed if pk is not None]:
        if customer is not None and customer.user_id is not None and wanted[0] == customer.user_id:
            return customer.user_id  # the first clue names the linked user: it exists
        # Both clues in one query, taken in that order.
        found = set(User._default_manager.filter(pk__in=wanted).values_list("pk", flat=True))
        if (pk := next((pk for pk in wanted if pk in found), None)) is not None:
            return pk
    if customer is not None and customer.user_id is not None:
        return customer.user_id
    user = user_by_email(email) if email else None
    return user.pk if user is not None else None


def user_by_email(email: str) -> AbstractBaseUser | None:
    """The one user whose email is `email` (case-insensitively), as MEMBERSHIP_MATCH_EMAIL
    allows: `any` address, only a `verified` one (the default), or never (`off`).

    Anyone can type any address into a Checkout form, so an unverified match would hand a
    payer's membership to whoever signs up with their address first. Verified means
    django-allauth's `EmailAddress.verified` when allauth is installed, else the callable
    named by MEMBERSHIP_EMAIL_VERIFIED, `f(user, email) -> bool`; with neither, no match.
    """
    mode = app_settings.MEMBERSHIP_MATCH_EMAIL
    if mode == "verified" and apps.is_installed("allauth.account"):
        EmailAddress = apps.get_model("account", "EmailAddress")
        owners = EmailAddress.objects.filter(email__iexact=email, verified=True)
        user_ids = list(owners.values_list("user_id", flat=True).distinct()[:2])
        return get_user_model().objects.get(pk=user_ids[0]) if len(user_ids) == 1 else None
    if mode not in ("verified", "any"):
        return None
    matches = list(get_user_model().objects.filter(**{f"{email_field()}__iexact": email})[:2])
    if len(matches) != 1:
        return None
    if mode == "any":
        return matches[0]
    verified = app_settings.MEMBERSHIP_EMAIL_VERIFIED
    return matches[0] if verified and import_string(verified)(matches[0], email) else None


def claim(
    customer_id: str,
    *,
    email: str = "",
    client_reference_id: Any = None,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Resolve the user (its primary key) and, if the customer was nobody's, link it and hand
    over its facts.

    No customer id (a guest Checkout) still resolves from the other clues.
    """
    customer = StripeCustomer.locked(customer_id) if customer_id else None
    changed = []
    if customer is not None and email and not customer.email:
        customer.email = email
        changed.append("email")
    user_id = resolve_user(
        customer,
        client_reference_id=client_reference_id,
        metadata=metadata,
        email=email or (customer.email if customer else ""),
    )
    if customer is not None and user_id is not None and customer.user_id is None:
        customer.claim_for(user_id, also_save=changed)  # one UPDATE for both
    elif changed:
        statements.save(customer, changed)
    return user_id


def link(customer_id: str, user: Any, by_user: Any) -> StripeCustomer:
    """Staff link a Stripe customer to `user`: every fact of the customer becomes the user's.
    Apps built on the facts hear of it through `customer_linked`, in the same transaction."""
    with transaction.atomic():
        customer = StripeCustomer.locked(customer_id)
        previous = customer.user_id
        customer.link(user, by=by_user)
        customer_linked.send(
            sender=StripeCustomer, customer=customer, previous_user_id=previous, by=by_user
        )
    return customer


def touched_users(event: WebhookEvent) -> tuple[str, list[Any]]:
    """The query of the users whose facts `event` changed or whose customer it concerns (one
    column, the user's key; NULL where a fact has no user), sent with other statements.

    Written out: it runs for every event, and composing five querysets into a UNION cost more
    of a worker's CPU than PostgreSQL spends running it.
    """
    parts = [(model, "last_event_id", event.pk) for model in (Payment, Subscription)]
    if event.customer_id:
        parts += [
            (model, "customer_id", event.customer_id)
            for model in (Payment, Subscription, StripeCustomer)
        ]
    quote = connection.ops.quote_name
    sql = " UNION ".join(
        f"SELECT {quote(model._meta.get_field('user').column)} "  # noqa: S608  (our own names)
        f"FROM {quote(model._meta.db_table)} WHERE {quote(column)} = %s"
        for model, column, _ in parts
    )
    return sql, [value for _, _, value in parts]
