"""Text from a payload, made fit for the database, and Stripe ids checked for their shape.

PostgreSQL refuses NUL characters in text and a varchar longer than its column; psycopg
cannot encode a lone surrogate (`"\\ud800"` is valid JSON). Any of those in a payload used to
fail an INSERT, which lost the event or a whole import chunk. So:

- descriptive columns (an email kept for search, an API version) use `FittedCharField`: what
  cannot be stored is dropped and the value cut to fit, after any lowercasing;
- columns holding an identifier another row is found by use `ExactCharField`: a value that
  cannot be stored as it is raises `UnusableField`, which fails that event's processing with
  the reason (a cut id would find the wrong row), never its storage.

Both act on every write through the ORM (save, bulk_create, update), whichever path (webhook,
import, backfill, admin) the value came by; fitted ones on lookups too. They deconstruct as the
plain Django fields: the columns are the same, so no migration.
"""

import re
from typing import Any

from django.db import models

# Stripe documents ids as opaque strings of up to 255 characters. Ids Stripe makes are a
# prefix and an underscore, then letters and digits (`evt_1Nx...`, `cs_test_a1...`); ids a user
# chose (customers, products, prices, coupons) hold letters, digits, `_` and `-` since
# 2018-05-21 (docs.stripe.com/changelog/2018-05-21/valid-characters-ids-coupons-skus-customers-
# products-plans). Events are always Stripe's own.
EVENT_ID_PATTERN = r"evt_[A-Za-z0-9_]{1,251}"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_OBJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnusableField(ValueError):
    """A payload value this event needs cannot be stored as it is: the event fails with this
    reason (status `failed`), and stays stored for staff to look at."""


def is_event_id(value: Any) -> bool:
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


def is_object_id(value: Any) -> bool:
    """Whether `value` can be a Stripe object's id (made by Stripe or chosen by a user)."""
    return isinstance(value, str) and _OBJECT_ID.fullmatch(value) is not None


def fit(value: Any, limit: int | None) -> str:
    """`value` as text the database takes: NUL and lone surrogates dropped, cut to `limit`
    characters (PostgreSQL's varchar counts characters, not bytes)."""
    if not isinstance(value, str):
        return ""
    text = _UNSTORABLE.sub("", value)
    return text[:limit] if limit is not None else text


def printable(value: Any) -> str:
    """A value for a log line: an id as it is, anything else quoted and escaped, so a newline
    in a payload can never start a forged line."""
    return value if is_object_id(value) else ascii(value)


class _PlainColumn:
    """Deconstructs as the Django field it extends: the column is the same, so no migration."""

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        django_field = next(c for c in type(self).__mro__ if c.__module__.startswith("django."))
        return name, f"django.db.models.{django_field.__name__}", args, kwargs


class _Fitted(_PlainColumn):
    """Values are cut to fit (see `fit`), never refused."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return fit(value, self.max_length) if isinstance(value, str) else value


class FittedCharField(_Fitted, models.CharField):
    """A descriptive column (an email kept for search, an API version)."""


class FittedEmailField(_Fitted, models.EmailField):
    """An email kept as Stripe gave it, for display and matching by staff."""


class FittedTextField(_Fitted, models.TextField):
    """Free text (an error, a traceback, a note): NUL and lone surrogates dropped."""


class ExactCharField(_PlainColumn, models.CharField):
    """An identifier: stored exactly as given, or refused with `UnusableField` on a write."""

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        value = self.get_prep_value(value)  # a number from a payload is stored as its text
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise UnusableField(f"{self.model.__name__}.{self.name} {value[:40]!a} holds a NUL")
            if self.max_length is not None and len(value) > self.max_length:
                raise UnusableField(
                    f"{self.model.__name__}.{self.name} is {len(value)} characters long, "
                    f"more than {self.max_length}"
                )
        return super().get_db_prep_save(value, connection)
