"""A written-out INSERT or UPDATE sends each value as `save()` would (inbox.statements).

On PostgreSQL a value of Django's own CharField, TextField, BooleanField or DateTimeField is
sent as it is, without the field's preparation; every other value goes through it. Either
way the value must be the one `pre_save` then `get_db_prep_save` would hand PostgreSQL.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.utils.safestring import mark_safe

from bootwebhooks.inbox import statements
from bootwebhooks.inbox.models import WebhookEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def event(**fields) -> WebhookEvent:
    return WebhookEvent(**{
        "stripe_id": "evt_written", "type": "invoice.paid", "body": '{"object": "event"}',
        "stripe_created": datetime(2026, 12, 3, 17, 26, tzinfo=UTC), "livemode": True,
        "customer_email": "Ada@Example.COM\x00", "headers": {"User-Agent": "Stripe/1.0"},
        **fields,
    })  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"status": WebhookEvent.Status.PROCESSED, "processed_at": datetime.now(UTC)},
        {"type": mark_safe("invoice.paid"), "api_version": "2026-11-17.clover"},  # a subclass
    ],
)
def test_each_value_is_the_one_the_fields_own_preparation_gives(fields):
    obj = event(**fields)
    columns, _, plain = statements._written(WebhookEvent, "insert", "")
    assert {str, bool, datetime} <= set(plain)  # the plain path is taken for some

    _, sent = statements.insert(obj)

    for field, value in zip(columns, sent, strict=True):
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            continue  # its time is taken when written
        expected = field.get_db_prep_save(field.pre_save(obj, True), connection)
        assert type(value) is type(expected), field.name
        assert unwrapped(value) == unwrapped(expected), field.name


def unwrapped(value):
    """The drivers' JSON wrappers (`Jsonb`) compare by identity: compare what they wrap
    (psycopg 3 keeps it in `obj`, psycopg2 in `adapted`)."""
    return getattr(value, "obj", getattr(value, "adapted", value))


def test_an_update_sends_the_same_values():
    obj = event(status=WebhookEvent.Status.FAILED)
    obj.pk = 7

    _, sent = statements.update(obj, ["status", "livemode", "stripe_created", "customer_email"])

    written = datetime(2026, 12, 3, 17, 26, tzinfo=UTC)
    assert sent == ["failed", True, written, "Ada@Example.COM", 7]  # NUL dropped (inbox.fields)
