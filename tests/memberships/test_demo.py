"""The product in one go: signed Stripe deliveries in, a member out of the API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from tests.stripe_events import deliver

pytestmark = pytest.mark.django_db


def test_a_signed_event_unlocks_a_member(client, student, django_user_model):
    platform = django_user_model.objects.create_user("platform")
    platform.user_permissions.add(Permission.objects.get(codename="view_membership"))
    auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=platform).key}"}
    url = f"/api/memberships/{student.pk}/"
    assert client.get(url, secure=True, **auth).json()["is_member"] is False

    # Times relative to now, so the demo holds whenever the test runs.
    now = int(datetime.now(UTC).timestamp())
    checkout = deliver(client, "checkout_session_completed", fresh_id=True, created=now)

    assert checkout["status"] == "processed"
    body = client.get(url, secure=True, **auth).json()
    assert (body["is_member"], body["status"]) == (True, "active")  # paid, period not known yet

    deliver(
        client,
        "customer_subscription_created",
        created=now,
        obj__items={
            "object": "list",
            "data": [
                {
                    "id": "si_TxItemAcme0001",
                    "price": {"lookup_key": "monthly", "recurring": {"interval": "month"}},
                    "current_period_start": now - 60,
                    "current_period_end": now + 30 * 86400,
                }
            ],
        },
    )

    body = client.get(url, secure=True, **auth).json()
    assert (body["is_member"], body["status"], body["plan"]) == (True, "active", "monthly")
    until = datetime.fromisoformat(body["access_until"])
    assert until - datetime.now(UTC) > timedelta(days=29)
