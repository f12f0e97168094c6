"""Support staff in a real browser (Playwright driving Debian's Chromium)."""

import re

import pytest
from django.contrib.auth.models import Group, Permission, User

from bootwebhooks.inbox.models import WebhookEvent
from tests.browser.conftest import log_in
from tests.inbox.conftest import effects, handlers, mark_effect  # noqa: F401  (fixture)
from tests.webhooks import make_event, post_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def failed_event(client, handlers):  # noqa: F811
    state = {"broken": True}

    @handlers.handles("invoice.paid")
    def ledger(event):
        if state["broken"]:
            raise RuntimeError("ledger unavailable")
        mark_effect(event)

    invoice = {
        "id": "in_browser",
        "object": "invoice",
        "customer": "cus_browser",
        "customer_email": "ada@example.com",
    }
    event = make_event("invoice.paid", invoice)
    assert post_event(client, event).status_code == 500
    state["broken"] = False  # the cause is fixed; the event waits for a retry
    return WebhookEvent.objects.get(stripe_id=event["id"])


def staff(username: str, group: str | None = None) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    else:
        user.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    return user


def test_support_finds_a_failed_event_by_email_previews_and_retries_it(
    page, live_server, failed_event
):
    staff("sam", "Support")
    log_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/admin/inbox/webhookevent/")
    page.fill("#searchbar", "Ada@Example.com")
    page.press("#searchbar", "Enter")
    page.click(f"text={failed_event.stripe_id}")
    assert "ledger unavailable" in page.inner_text("#attempts")

    page.click("#retry-event")
    assert re.search(
        r"would be processed; writes: auth_group insert 1", page.inner_text("#preview")
    )
    failed_event.refresh_from_db()
    assert failed_event.status == "failed"  # the preview changed nothing

    page.click("#confirm-retry")
    page.wait_for_selector(".messagelist")
    assert "retried: processed" in page.inner_text(".messagelist")
    assert "processed" in page.inner_text("#attempts")
    failed_event.refresh_from_db()
    assert failed_event.status == "processed"
    assert effects(failed_event.stripe_id) == 1


def test_a_view_only_user_sees_the_event_but_cannot_retry(page, live_server, failed_event):
    staff("vic")
    log_in(page, live_server, "vic")

    page.goto(f"{live_server.url}/admin/inbox/webhookevent/{failed_event.pk}/change/")
    assert "ledger unavailable" in page.inner_text("#attempts")
    assert page.locator("#retry-event").count() == 0

    response = page.goto(f"{live_server.url}/admin/inbox/webhookevent/{failed_event.pk}/retry/")
    assert response.status == 403
    failed_event.refresh_from_db()
    assert failed_event.status == "failed"
