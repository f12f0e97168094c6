"""A person's history on one line each, newest first: Stripe's events about them, their
membership's changes and staff decisions, each linked to its page."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString

from bootwebhooks.inbox.admin import admin_url, event_amount
from bootwebhooks.memberships.models import state_change
from bootwebhooks.memberships.person import Person


@dataclass
class Entry:
    at: datetime
    kind: str  # "event", "membership" or "staff"
    what: SafeString | str
    status: str = ""
    url: str = ""


def timeline(person: Person) -> list[Entry]:
    entries = [_event(event) for event in person.events]
    record = admin_url(person.membership) if person.membership else ""
    for change in person.changes:
        cause = f"event {change.event.stripe_id}" if change.event_id else _staff(change)
        what = f"Membership {state_change(change.before, change.after)}, caused by {cause}"
        url = admin_url(change.event) if change.event_id else record
        entries.append(Entry(change.at, "membership", what, change.after.get("status", ""), url))
    for override in person.overrides:
        who = override.staff.get_username() if override.staff else "a deleted user"
        what = f"Staff {override.get_kind_display()} by {who}: “{override.reason}”"
        entries.append(Entry(override.at, "staff", what, override.kind, record))
    return sorted(entries, key=lambda e: e.at, reverse=True)


def _event(event) -> Entry:
    amount = event_amount(event)
    what = format_html("{} <small>{}</small>", event.type, event.stripe_id)
    if amount != "-":
        what = format_html("{}, {}", what, amount)
    # When it reached us, like the membership changes it caused: Stripe's own `created` can be
    # hours earlier for a retried delivery, which would put effects before their causes.
    return Entry(event.received_at, "event", what, event.status, admin_url(event))


def _staff(change) -> str:
    who = change.staff.get_username() if change.staff else "a deleted user"
    return f"staff member {who} ({change.reason})" if change.reason else f"staff member {who}"
