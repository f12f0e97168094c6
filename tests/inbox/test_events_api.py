import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import mark_effect
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_event(client, handlers):
    calls = []

    @handlers.handles("invoice.paid")
    def fails_once(event):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        mark_effect(event)

    event = make_event("invoice.paid")
    post_event(client, event)
    post_event(client, event)
    return event


def url(event_id: str) -> str:
    return f"/api/events/{event_id}/"


def test_it_shows_an_event_and_its_attempts_to_staff(client, admin_user, stored_event):
    client.force_login(admin_user)
    body = client.get(url(stored_event["id"])).json()
    assert body["id"] == stored_event["id"]
    assert body["type"] == "invoice.paid"
    assert body["status"] == "processed"
    assert body["delivery_count"] == 2
    assert body["received_at"] and body["processed_at"]
    assert [(a["outcome"], a["trigger"]) for a in body["attempts"]] == [
        ("failed", "webhook"),
        ("processed", "webhook"),
    ]
    assert body["attempts"][0]["error"] == "RuntimeError: boom"
    assert all(a["started_at"] and a["finished_at"] for a in body["attempts"])


def test_it_accepts_a_drf_token_of_a_user_allowed_to_view_events(client, stored_event):
    robot = User.objects.create_user("ops-robot")
    robot.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    token = Token.objects.create(user=robot)
    response = client.get(url(stored_event["id"]), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["id"] == stored_event["id"]


def test_it_refuses_anonymous_with_401(client, stored_event):
    assert client.get(url(stored_event["id"])).status_code == 401


def test_it_refuses_a_bad_token_with_401(client, stored_event):
    response = client.get(url(stored_event["id"]), HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401


def test_it_refuses_a_user_without_the_view_permission(client, stored_event):
    user = User.objects.create_user("student", is_staff=True)
    client.force_login(user)
    assert client.get(url(stored_event["id"])).status_code == 403


def test_it_answers_404_for_an_unknown_event(client, admin_user):
    client.force_login(admin_user)
    assert client.get(url("evt_nope")).status_code == 404


def test_it_names_the_staff_user_who_triggered_an_attempt(client, admin_user, stored_event):
    event = WebhookEvent.objects.get()
    event.attempts.update(trigger="staff", user=admin_user)
    client.force_login(admin_user)
    triggers = {a["trigger"] for a in client.get(url(event.stripe_id)).json()["attempts"]}
    assert triggers == {f"staff:{admin_user.username}"}


def test_it_can_create_tokens_with_the_management_command(admin_user):
    from django.core.management import call_command

    call_command("drf_create_token", admin_user.username)
    assert Token.objects.filter(user=admin_user).exists()
