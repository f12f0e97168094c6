"""The two staff roles, as Django groups of their own.

They are made by `manage.py create_staff_roles`, never by a migration: a host site's groups
(its own "Support", say) are left alone, and `migrate ... zero` deletes no group. Running the
command again adds what a role lacks and removes nothing a site added by hand.
"""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.memberships.models import Membership, MembershipChange, StaffOverride
from bootwebhooks.payments.models import Charge, Payment, Price, StripeCustomer, Subscription

SUPPORT = "bootwebhooks support"
BILLING = "bootwebhooks billing operators"

VIEWED = (
    WebhookEvent,
    Attempt,
    StripeCustomer,
    Subscription,
    Payment,
    Charge,
    Price,
    Membership,
    MembershipChange,
    StaffOverride,
)


def permission_codenames() -> dict[str, list[tuple[type[models.Model], str]]]:
    """Role -> (model, codename): support reads everything and retries events; billing
    operators also mark events resolved, link customers to users, and grant, extend or revoke
    memberships."""
    support = [(model, f"view_{model._meta.model_name}") for model in VIEWED]
    support.append((WebhookEvent, "retry_webhookevent"))
    billing = [
        *support,
        (WebhookEvent, "resolve_webhookevent"),
        (StripeCustomer, "change_stripecustomer"),
        (Membership, "change_membership"),
    ]
    return {SUPPORT: support, BILLING: billing}


@transaction.atomic
def create_roles() -> dict[str, int]:
    """Make or complete both groups; returns how many permissions each one gained."""
    gained = {}
    for name, codenames in permission_codenames().items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [
            Permission.objects.get(
                content_type=ContentType.objects.get_for_model(model), codename=codename
            )
            for model, codename in codenames
        ]
        before = group.permissions.count()
        group.permissions.add(*wanted)
        gained[name] = group.permissions.count() - before
    return gained
