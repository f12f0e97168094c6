"""One explicit pipeline: one table of event type -> steps, imports pointing one way, and one
lock of a membership per change."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from bootwebhooks.inbox.dispatch import preview
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.registry import Registry, registry
from bootwebhooks.memberships.models import Membership, MembershipChange
from bootwebhooks.memberships.pipeline import PIPELINE, register
from bootwebhooks.memberships.services import override_access
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests import sent
from tests.stripe_events import CUSTOMER, deliver

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_is_what_runs_in_its_order():
    for event_type, steps in PIPELINE:
        assert registry.handlers_for(event_type) == steps, event_type
    assert set(registry.event_types()) == {event_type for event_type, _ in PIPELINE}


def test_a_type_listed_twice_fails_when_the_table_is_registered(monkeypatch):
    import bootwebhooks.memberships.pipeline as pipeline

    monkeypatch.setattr(pipeline, "PIPELINE", (*PIPELINE, PIPELINE[0]))
    with pytest.raises(Exception, match="already registered"):
        register(Registry())


def imported_modules(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


def test_payments_never_imports_memberships():
    assert not [m for m in imported_modules(ROOT / "payments") if "memberships" in m]


def test_the_inbox_imports_neither():
    modules = imported_modules(ROOT / "bootwebhooks" / "inbox")
    assert not [m for m in modules if "memberships" in m or "payments" in m]


@pytest.mark.django_db
def test_linking_a_customer_needs_the_payments_permission(client, django_user_model):
    deliver(client, "invoice_paid", obj__customer_email="nobody.yet@example.com")
    customer = StripeCustomer.objects.get(customer_id=CUSTOMER)
    ada = django_user_model.objects.create_user("ada2")
    url = f"/admin/bootwebhooks_payments/stripecustomer/{customer.pk}/link/"
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="change_membership"))
    client.force_login(clerk)
    assert client.post(url, {"user": "ada2", "reason": "x"}).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="change_stripecustomer"))
    clerk = django_user_model.objects.get(pk=clerk.pk)  # permissions are cached per object
    client.force_login(clerk)
    client.post(url, {"user": "ada2", "reason": "same person"})

    assert Payment.objects.get().user == ada
    assert Membership.objects.get(user=ada).status == "active"


def membership_locks(queries) -> int:
    """Statements that take the membership's row lock: a SELECT ... FOR UPDATE, or the upsert
    that locks it (payments.models.locked_row)."""
    table = Membership._meta.db_table
    return sum(
        1
        for sql in sent.statements(queries)
        if (f'FROM "{table}"' in sql and "FOR UPDATE" in sql)
        or (sql.startswith(f'INSERT INTO "{table}"') and "ON CONFLICT" in sql)
    )


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_staff_override_locks_the_membership_once(student, django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    Membership.refresh(student.pk)

    with CaptureQueriesContext(connection) as queries:
        override_access(student, "revoke", staff=staff, reason="chargeback by phone")

    assert membership_locks(queries.captured_queries) == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_event_locks_its_members_membership_once(client, student):
    with CaptureQueriesContext(connection) as queries:
        deliver(client, "invoice_paid")

    assert membership_locks(queries.captured_queries) == 1


@pytest.mark.django_db
def test_a_preview_counts_the_membership_change_and_its_history_row(client, student):
    """The membership's UPDATE and its history row's INSERT share a query where the driver
    allows: the preview still lists both writes."""
    deliver(client, "invoice_paid")
    Membership.objects.all().delete()  # as if the event had not been applied yet

    result = preview(WebhookEvent.objects.get().pk)

    assert result.writes[MembershipChange._meta.db_table] == {"insert": 1}
    assert result.writes[Membership._meta.db_table] == {"insert": 1, "update": 1}


@pytest.mark.django_db
def test_a_host_listening_to_save_signals_still_hears_a_membership_change(client, student):
    """A change's two writes are written out unless a receiver listens to either model's
    save signals: then they go through save(), and the host's receiver runs."""
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((sender.__name__, created))

    post_save.connect(receiver, sender=Membership)
    post_save.connect(receiver, sender=MembershipChange)
    try:
        deliver(client, "invoice_paid")
    finally:
        post_save.disconnect(receiver, sender=Membership)
        post_save.disconnect(receiver, sender=MembershipChange)

    assert heard == [("Membership", False), ("MembershipChange", True)]
    assert MembershipChange.objects.get().after["status"] == "active"
    assert Membership.objects.get(user=student).status == "active"
