"""After payments has recorded an event's facts (it runs first: INSTALLED_APPS order), derive
the access of every user those facts belong to, in the same transaction."""

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.registry import handles
from bootwebhooks.memberships.services import refresh_for_event
from bootwebhooks.payments.customers import users_touched_by
from bootwebhooks.payments.handlers import HANDLED_TYPES


@handles(*HANDLED_TYPES)
def refresh_memberships(event: WebhookEvent) -> None:
    refresh_for_event(event, users_touched_by(event))
