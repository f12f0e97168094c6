"""Memberships: who has access, derived from what Stripe said (rules in docs/RULES.md).

`memberships.is_member(user, at=None)` is the one question the rest of the platform asks.
"""

from datetime import datetime
from typing import Any


def is_member(user: Any, at: datetime | None = None) -> bool:
    # Imported late: this package is imported while INSTALLED_APPS loads, before its models.
    from bootwebhooks.memberships.services import is_member as answer

    return answer(user, at)
