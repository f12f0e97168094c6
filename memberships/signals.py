"""The memberships' signal, sent after the change commits (see bootwebhooks.inbox.signals).

`membership_changed`: sender=Membership; user, membership, change (the MembershipChange row),
before and after (the membership's state, dicts), was_member and is_member (access just before
and just after, booleans), cause ("event" or "staff"), event (the WebhookEvent, or None) and
staff (the staff user, or None).
"""

from django.dispatch import Signal

membership_changed = Signal()
