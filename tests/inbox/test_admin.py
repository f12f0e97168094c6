import re
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.roles import BILLING, SUPPORT, create_roles
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db
LIST = "/admin/bootwebhooks_inbox/webhookevent/"


def staff(username: str, group: str | None = None, *perms: str) -> User:
    user = User.objects.create_user(username, f"{username}@staff.test", "pw", is_staff=True)
    if group:
        create_roles()
        user.groups.add(Group.objects.get(name=group))
    for perm in perms:
        user.user_permissions.add(Permission.objects.get(codename=perm))
    return user


@pytest.fixture
def broken(handlers):
    state = {"on": True}

    @handlers.handles("invoice.paid")
    def flaky(event):
        if state["on"]:
            raise RuntimeError("ledger unavailable")
        mark_effect(event)

    return state


@pytest.fixture
def failed(client, broken) -> WebhookEvent:
    invoice = {
        "id": "in_42",
        "object": "invoice",
        "customer": "cus_42",
        "customer_email": "Student@Example.com",
        "status": "paid",
    }
    post_event(client, make_event("invoice.paid", invoice))
    return WebhookEvent.objects.get()


def detail(event: WebhookEvent) -> str:
    return f"{LIST}{event.pk}/change/"


def test_the_command_creates_the_two_roles_and_leaves_a_host_group_alone():
    host_support = Group.objects.create(name="Support")
    call_command("create_staff_roles", stdout=StringIO())
    call_command("create_staff_roles", stdout=StringIO())  # a second run changes nothing
    assert not host_support.permissions.exists()
    support = set(Group.objects.get(name=SUPPORT).permissions.values_list("codename", flat=True))
    billing = set(Group.objects.get(name=BILLING).permissions.values_list("codename", flat=True))
    assert {"view_webhookevent", "retry_webhookevent"} <= support
    assert "resolve_webhookevent" not in support
    assert {"view_webhookevent", "retry_webhookevent", "resolve_webhookevent"} <= billing


@pytest.mark.parametrize(
    "term", ["student@example.com", "STUDENT@example.com", "cus_42", "in_42", "evt_"]
)
def test_support_finds_an_event_by_email_customer_object_or_id(client, failed, term):
    client.force_login(staff("sam", SUPPORT))
    term = failed.stripe_id if term == "evt_" else term
    page = client.get(LIST, {"q": term}).content.decode()
    assert failed.stripe_id in page
    assert failed.stripe_id not in client.get(LIST, {"q": "nobody@example.com"}).content.decode()


def test_the_list_colours_status_and_filters_without_a_full_count(client, failed):
    client.force_login(staff("sam", SUPPORT))
    with CaptureQueriesContext(connection) as queries:
        page = client.get(LIST, {"status__exact": "failed"}).content.decode()
    assert re.search(r'<b style="color:#c62828">failed</b>', page)
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


def test_the_detail_shows_payload_attempts_traceback_headers_and_diff(client, handlers):
    client.force_login(staff("sam", SUPPORT))
    event = make_event(
        "customer.subscription.updated",
        {"id": "sub_1", "object": "subscription", "status": "past_due", "customer": "cus_1"},
    )
    event["data"]["previous_attributes"] = {"status": "active"}

    @handlers.handles("customer.subscription.updated")
    def explode(event):
        raise KeyError("plan")

    post_event(client, event)
    page = client.get(detail(WebhookEvent.objects.get())).content.decode()

    assert "<code>&quot;past_due&quot;</code>" in page  # the payload tree
    assert "KeyError: &#x27;plan&#x27;" in page and "in explode" in page  # attempt + traceback
    assert "v1=&lt;redacted&gt;" in page and "Stripe-Signature" in page
    # One date format, to the second with the time zone, in the admin's own fields too
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d UTC", page)
    assert "a.m." not in page and "p.m." not in page
    assert re.search(r"<code>status</code></td><td><code>&quot;active&quot;</code>", page)


def test_support_previews_a_retry_without_changing_anything(client, failed, broken):
    client.force_login(staff("sam", SUPPORT))
    broken["on"] = False
    page = client.get(f"{LIST}{failed.pk}/retry/").content.decode()
    assert "Would be processed." in page
    assert "auth_group insert 1" in page  # the writes, folded away under the words
    failed.refresh_from_db()
    assert failed.status == "failed" and failed.attempt_count == 1
    assert effects(failed.stripe_id) == 0


def test_support_retries_and_the_retry_is_audited(client, failed, broken):
    sam = staff("sam", SUPPORT)
    client.force_login(sam)
    broken["on"] = False
    assert 'id="retry-event"' in client.get(detail(failed)).content.decode()

    response = client.post(f"{LIST}{failed.pk}/retry/", {"note": "ledger back up"})

    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == "processed"
    attempt = failed.attempts.last()
    assert (attempt.trigger, attempt.user, attempt.note) == ("staff", sam, "ledger back up")
    assert LogEntry.objects.get(user=sam).change_message.startswith("Retried: processed")
    assert effects(failed.stripe_id) == 1


def test_a_view_only_user_gets_no_buttons_and_403s(client, failed):
    client.force_login(staff("vic", None, "view_webhookevent"))
    page = client.get(detail(failed)).content.decode()
    assert "retry-event" not in page and "mark-processed" not in page
    assert client.get(f"{LIST}{failed.pk}/retry/").status_code == 403
    assert client.post(f"{LIST}{failed.pk}/retry/").status_code == 403
    assert client.post(f"{LIST}{failed.pk}/mark/ignored/", {"note": "x"}).status_code == 403
    assert client.get(LIST).context["action_form"] is None  # no bulk action offered


def test_support_cannot_mark_but_billing_can_with_a_required_note(client, failed):
    client.force_login(staff("sam", SUPPORT))
    assert client.post(f"{LIST}{failed.pk}/mark/ignored/", {"note": "x"}).status_code == 403

    bea = staff("bea", BILLING)
    client.force_login(bea)
    page = client.post(f"{LIST}{failed.pk}/mark/ignored/", {"note": "  "}).content.decode()
    assert "A note is required" in page
    failed.refresh_from_db()
    assert failed.status == "failed"

    client.post(f"{LIST}{failed.pk}/mark/ignored/", {"note": "test-mode noise"})
    failed.refresh_from_db()
    assert failed.status == "ignored"
    attempt = failed.attempts.last()
    assert (attempt.outcome, attempt.user, attempt.note) == ("ignored", bea, "test-mode noise")
    assert "Marked ignored: test-mode noise" in LogEntry.objects.get(user=bea).change_message


@pytest.fixture
def three_failed(client, broken) -> list[str]:
    """Three failed events whose cause is fixed: their pks, as the list's checkboxes send them."""
    for _ in range(3):
        post_event(client, make_event("invoice.paid"))
    broken["on"] = False
    return [str(pk) for pk in WebhookEvent.objects.values_list("pk", flat=True)]


def test_bulk_retry_confirms_the_count_first(client, three_failed):
    client.force_login(staff("sam", SUPPORT))
    ids = three_failed
    form = {"action": "retry_selected", "_selected_action": ids, "index": "0"}

    page = client.post(LIST, form).content.decode()

    assert "<b>3 selected, 3 to retry</b>" in page and 'id="cancel"' in page
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"failed"}

    client.post(LIST, {**form, "confirm": "yes"})
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_bulk_retry_counts_processed_events_as_skipped_and_offers_only_cancel(client, failed):
    client.force_login(staff("bea", BILLING))
    failed.resolve(failed.pk, "processed", user=None, note="settled by hand")
    form = {"action": "retry_selected", "_selected_action": [failed.pk], "index": "0"}

    page = client.post(LIST, form).content.decode()

    assert "<b>1 selected, 0 to retry</b> (1 skipped" in page
    assert "confirm-bulk" not in page and 'id="cancel"' in page


@override_settings(ADMIN_BULK_LIMIT=2)
def test_a_bulk_action_over_the_limit_is_refused_and_names_the_command(client, three_failed):
    client.force_login(staff("bea", BILLING))
    ids = three_failed
    for action, command in [
        ("retry_selected", "replay_webhook_events"),
        ("mark_selected_ignored", "mark_webhook_events --as ignored"),
    ]:
        form = {"action": action, "_selected_action": ids, "index": "0", "confirm": "yes"}
        response = client.post(LIST, {**form, "note": "x"}, follow=True)
        text = " ".join(str(m) for m in response.context["messages"])
        assert "more than 2 events selected" in text and command in text
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"failed"}


def test_bulk_mark_needs_a_note(client, failed):
    client.force_login(staff("bea", BILLING))
    form = {"action": "mark_selected_processed", "_selected_action": [failed.pk], "index": "0"}
    page = client.post(LIST, {**form, "confirm": "yes"}).content.decode()
    assert "A note is required" in page
    client.post(LIST, {**form, "confirm": "yes", "note": "settled by hand"})
    failed.refresh_from_db()
    assert failed.status == "processed"
    assert failed.attempts.last().note == "settled by hand"


def test_the_index_shows_the_overview(client, failed):
    client.force_login(staff("sam", SUPPORT))
    page = client.get("/admin/").content.decode()
    assert "Events failed" in page and "Failed in the last 24 h" in page
    assert "Oldest pending event" in page
    assert "View site" not in page  # the demo has no site for it to open
    assert 'id="person-q"' in page  # support starts from Find a person


def test_the_api_retries_with_the_same_permission(client, failed, broken):
    url = f"/api/events/{failed.stripe_id}/retry/"
    client.force_login(staff("vic", None, "view_webhookevent"))
    assert client.post(url).status_code == 403
    client.force_login(staff("sam", SUPPORT))
    broken["on"] = False
    body = client.post(url, {"note": "api"}, content_type="application/json").json()
    assert body["status"] == "processed"
    assert body["attempts"][-1]["trigger"] == "staff:sam"
    assert client.post("/api/events/evt_nope/retry/").status_code == 404


def test_the_api_marks_with_a_note(client, failed):
    url = f"/api/events/{failed.stripe_id}/mark/"
    client.force_login(staff("sam", SUPPORT))
    assert client.post(url, {"status": "ignored", "note": "x"}).status_code == 403
    client.force_login(staff("bea", BILLING))
    assert client.post(url, {"status": "ignored"}).status_code == 400
    assert client.post(url, {"status": "deleted", "note": "x"}).status_code == 400
    body = client.post(url, {"status": "ignored", "note": "noise"}).json()
    assert body["status"] == "ignored"


def test_the_openapi_schema_is_served(client):
    client.force_login(staff("sam", SUPPORT))
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/events/{evt_id}/retry/" in paths and "/webhooks/stripe/" in str(paths)


def test_browsable_api_docs_are_served_from_the_package_not_a_cdn(client, admin_user):
    assert client.get("/api/docs/").status_code == 401  # the schema's readers only
    client.force_login(admin_user)
    html = client.get("/api/docs/").content.decode()
    assert "/api/schema/" in html
    assert "drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_a_malformed_event_id_in_the_url_is_not_a_server_error(client):
    client.force_login(staff("sam", SUPPORT))
    response = client.get(f"{LIST}abc/change/")
    assert response.status_code == 302  # the admin's "doesn't exist" redirect


def test_a_preview_counts_rows_made_with_on_conflict_do_nothing_as_inserts(client, handlers):
    """Fact rows are made with bulk_create(ignore_conflicts=True): INSERT ... ON CONFLICT DO
    NOTHING on PostgreSQL, INSERT OR IGNORE on SQLite. Both are writes the preview must show."""
    from bootwebhooks.inbox.dispatch import preview

    @handlers.handles("invoice.paid")
    def make_if_missing(event):
        Group.objects.bulk_create([Group(name=f"{event.stripe_id}:row")], ignore_conflicts=True)

    stored = WebhookEvent.objects.create(
        stripe_id="evt_preview1", type="invoice.paid", stripe_created=timezone.now(), body="{}"
    )

    result = preview(stored.pk)

    assert result.writes == {"auth_group": {"insert": 1}}
    assert not Group.objects.filter(name="evt_preview1:row").exists()  # rolled back
