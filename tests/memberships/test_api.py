from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from bootwebhooks.memberships.models import Membership
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db


def url(user_id: int) -> str:
    return f"/api/memberships/{user_id}/"


def get(client, user_id: int, token: str | None = None):
    """Over HTTPS, as in production (plain HTTP is redirected there)."""
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    return client.get(url(user_id), secure=True, **headers)


@pytest.fixture
def reader(django_user_model):
    user = django_user_model.objects.create_user("platform")
    user.user_permissions.add(Permission.objects.get(codename="view_membership"))
    return user


@pytest.fixture
def token(reader) -> str:
    return Token.objects.create(user=reader).key


def test_it_answers_a_member(client, student, token):
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    Membership.objects.create(user=student, status="active", plan="monthly", access_until=until)

    response = get(client, student.pk, token)

    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == student.pk
    assert (body["is_member"], body["status"], body["plan"]) == (True, "active", "monthly")
    assert datetime.fromisoformat(body["access_until"]) == until


def test_a_user_without_membership_is_no_member(client, student, token):
    body = get(client, student.pk, token).json()

    assert (body["is_member"], body["status"], body["plan"], body["access_until"]) == (
        False,
        "none",
        "",
        None,
    )


def test_a_lapsed_membership_is_no_member(client, student, token):
    past = datetime.now(UTC) - timedelta(days=1)
    Membership.objects.create(user=student, status="active", plan="monthly", access_until=past)

    assert get(client, student.pk, token).json()["is_member"] is False


def test_lifetime_has_no_end(client, student, token):
    Membership.objects.create(user=student, status="active", plan="lifetime")

    body = get(client, student.pk, token).json()

    assert (body["is_member"], body["access_until"]) == (True, None)


def test_an_unknown_user_is_404(client, token):
    assert get(client, 987654, token).status_code == 404


def test_it_requires_authentication(client, student):
    assert get(client, student.pk).status_code == 401


def test_it_requires_the_view_permission(client, student, django_user_model):
    nobody = django_user_model.objects.create_user("nobody")
    token = Token.objects.create(user=nobody).key

    assert get(client, student.pk, token).status_code == 403


def test_a_staff_session_with_the_permission_works(client, student, reader):
    client.force_login(reader)

    assert get(client, student.pk).status_code == 200


def test_its_dates_are_iso_8601_with_z_like_the_events_api(client, student, reader, admin_user):
    """One date format across the API: what DRF writes for the events API's dates."""
    until = datetime(2027, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    Membership.objects.create(user=student, status="active", plan="monthly", access_until=until)
    client.force_login(admin_user)
    stored = make_event()
    post_event(client, stored)
    event = client.get(f"/api/events/{stored['id']}/", secure=True).json()

    body = client.get(url(student.pk), secure=True).json()

    assert body["access_until"] == "2027-01-02T03:04:05.678901Z"
    for value in (body["access_until"], event["stripe_created"], event["received_at"]):
        assert value.endswith("Z") and "+00:00" not in value
