"""Who a support person means: the Stripe customers a search term points to.

A term with a Stripe id prefix (`cus_`, `sub_`, `in_`, `pi_`, `ch_`, `cs_`) is matched,
partially and case-insensitively, against the ids of that kind only; any other term against
customers' emails and users' emails and names. The event list then shows every event of
those customers, subscription events included (they carry no email), and the person search
lists them.
"""

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from bootwebhooks.payments.models import Charge, Payment, StripeCustomer, Subscription

LIMIT = 100  # customers per search: a person has a few, a term that matches more is too vague


def _ids(rows: QuerySet, field: str, term: str) -> QuerySet:
    return rows.filter(**{f"{field}__icontains": term}).values_list("customer_id", flat=True)


# id prefix -> queries of customer ids whose objects carry such an id containing the term
BY_PREFIX = {
    "cus_": lambda t: [_ids(StripeCustomer.objects, "customer_id", t)],
    "sub_": lambda t: [_ids(Subscription.objects, "subscription_id", t)],
    "in_": lambda t: [_ids(Payment.objects, "stripe_id", t)],
    "cs_": lambda t: [_ids(Payment.objects, "stripe_id", t)],
    "pi_": lambda t: [
        _ids(Payment.objects, "payment_intent_id", t),
        _ids(Charge.objects, "payment_intent_id", t),
    ],
    "ch_": lambda t: [_ids(Charge.objects, "charge_id", t)],
}


def matching_users(term: str) -> QuerySet:
    """Users whose username, email or name contains the term (case-insensitive)."""
    User = get_user_model()
    names = {f.name for f in User._meta.get_fields()}
    fields = [User.USERNAME_FIELD, *(f for f in ("email", "first_name", "last_name") if f in names)]
    match = Q()
    for name in dict.fromkeys(fields):
        match |= Q(**{f"{name}__icontains": term})
    return User.objects.filter(match)


def customer_ids(term: str) -> set[str]:
    term = term.strip()
    if len(term) < 2:
        return set()
    prefix = next((p for p in BY_PREFIX if term.lower().startswith(p)), None)
    if prefix is not None:
        queries = BY_PREFIX[prefix](term)
    else:
        users = matching_users(term).values("pk")[:LIMIT]
        queries = [
            _ids(StripeCustomer.objects, "email", term),
            StripeCustomer.objects.filter(user__in=users).values_list("customer_id", flat=True),
        ]
    found: set[str] = set()
    for query in queries:
        found.update(query.exclude(customer_id="")[:LIMIT])
    return found
