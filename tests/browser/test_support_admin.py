"""Support staff in a real browser (Playwright driving Debian's Chromium)."""

import time

import pytest
from django.contrib.auth.models import Group, Permission, User

from bootwebhooks.inbox import dispatch, ingest, samples
from bootwebhooks.inbox import registry as handlers
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.roles import SUPPORT, create_roles
from bootwebhooks.memberships.services import is_member
from tests.browser.conftest import log_in
from tests.webhooks import post_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EMAIL = "ada@example.com"


@pytest.fixture
def ledger_down(monkeypatch):
    """The project's handlers, plus one that fails first while an outside service is down."""
    state = {"down": True}

    def ledger(event):
        if state["down"]:
            raise RuntimeError("ledger unavailable")

    registry = handlers.Registry()
    registry.add("invoice.paid", ledger)
    for event_type in handlers.registry.event_types():
        for handler in handlers.registry.handlers_for(event_type):
            registry.add(event_type, handler)
    monkeypatch.setattr(dispatch, "registry", registry)
    monkeypatch.setattr(ingest, "registry", registry)
    return state


@pytest.fixture
def failed_event(client, ledger_down):
    ada = User.objects.create_user("ada", EMAIL)
    event = samples.build(
        "invoice.paid", key="browser", user_id=ada.pk, email=EMAIL, now=int(time.time())
    )
    assert post_event(client, event).status_code == 500
    assert not is_member(ada)
    ledger_down["down"] = False  # the cause is fixed; the event waits for a retry
    return WebhookEvent.objects.get(stripe_id=event["id"])


def staff(username: str, group: str | None = None) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    if group:
        create_roles()
        user.groups.add(Group.objects.get(name=group))
    else:
        user.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    return user


def test_support_finds_a_failed_event_by_email_previews_retries_and_sees_the_member(
    page, live_server, failed_event
):
    staff("sam", SUPPORT)
    log_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/admin/bootwebhooks_inbox/webhookevent/?status__exact=failed")
    page.fill("#searchbar", "Ada@Example.com")
    page.press("#searchbar", "Enter")
    page.click(f"text={failed_event.stripe_id}")
    assert "ledger unavailable" in page.inner_text("#attempts")

    page.click("#retry-event")
    preview = page.inner_text("#preview")
    assert "Would be processed." in preview
    assert "membership of ada: none → active, access until" in preview
    failed_event.refresh_from_db()
    assert failed_event.status == "failed"  # the preview changed nothing
    assert not is_member(User.objects.get(username="ada"))

    page.click("#confirm-retry")
    page.wait_for_selector(".messagelist")
    assert "retried: processed" in page.inner_text(".messagelist")
    assert "membership of ada: none → active" in page.inner_text("#caused")

    page.goto(f"{live_server.url}/admin/bootwebhooks_memberships/membership/?q={EMAIL}")
    row = page.inner_text("#result_list")
    assert "ada@example.com" in row and "Active" in row
    assert is_member(User.objects.get(username="ada"))


def test_a_view_only_user_sees_the_event_but_cannot_retry(page, live_server, failed_event):
    staff("vic")
    log_in(page, live_server, "vic")

    page.goto(f"{live_server.url}/admin/bootwebhooks_inbox/webhookevent/{failed_event.pk}/change/")
    assert "ledger unavailable" in page.inner_text("#attempts")
    assert page.locator("#retry-event").count() == 0

    response = page.goto(
        f"{live_server.url}/admin/bootwebhooks_inbox/webhookevent/{failed_event.pk}/retry/"
    )
    assert response.status == 403
    failed_event.refresh_from_db()
    assert failed_event.status == "failed"
    assert not is_member(User.objects.get(username="ada"))
