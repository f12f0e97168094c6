from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser

from bootwebhooks.memberships import is_member
from bootwebhooks.memberships.models import Membership

pytestmark = pytest.mark.django_db
AT = datetime(2026, 6, 1, tzinfo=UTC)


def make(user, **fields) -> Membership:
    return Membership.objects.create(user=user, **fields)


def test_a_user_without_a_membership_is_no_member(student):
    assert not is_member(student, at=AT)


def test_anonymous_users_are_no_members():
    assert not is_member(AnonymousUser(), at=AT)
    assert not is_member(None)


def test_access_ends_at_access_until(student):
    make(student, status="active", plan="monthly", access_until=AT)

    assert is_member(student, at=AT - timedelta(seconds=1))
    assert not is_member(student, at=AT)


@pytest.mark.parametrize("status", ["active", "trialing", "grace"])
def test_granting_statuses_grant(student, status):
    make(student, status=status, plan="monthly", access_until=AT)

    assert is_member(student, at=AT - timedelta(days=1))


@pytest.mark.parametrize("status", ["none", "ended", "suspended", "revoked"])
def test_other_statuses_do_not_grant_even_before_access_until(student, status):
    make(student, status=status, plan="monthly", access_until=AT)

    assert not is_member(student, at=AT - timedelta(days=1))


def test_lifetime_never_ends(student):
    make(student, status="active", plan="lifetime", access_until=None)

    assert is_member(student, at=AT + timedelta(days=36500))


def test_no_end_without_lifetime_grants_nothing(student):
    make(student, status="active", plan="monthly", access_until=None)

    assert not is_member(student, at=AT)


def test_it_asks_about_now_by_default(student):
    make(student, status="active", plan="monthly", access_until=datetime.now(UTC) + timedelta(1))

    assert is_member(student)
