import io
import json
import os
import signal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_webhook_events", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def events(handlers):
    handlers.handles("invoice.paid")(mark_effect)
    return [make_event("invoice.paid") for _ in range(3)]


def test_it_imports_json_lines_through_the_same_path_as_the_webhook(tmp_path, events):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))

    out, _ = run(str(path))

    assert "3 processed" in out
    stored = WebhookEvent.objects.order_by("stripe_id")
    assert [e.stripe_id for e in stored] == [e["id"] for e in events]
    assert {(e.source, e.status, e.delivery_count) for e in stored} == {("import", "processed", 1)}
    assert all(effects(e["id"]) == 1 for e in events)
    assert {a.trigger for e in stored for a in e.attempts.all()} == {"command"}


def test_a_bad_line_is_reported_by_number_and_the_rest_still_imports(tmp_path, events):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(events[0]), "{not json", json.dumps({"object": "customer"}), ""]
    path.write_text("\n".join([*lines, json.dumps(events[1])]) + "\n")

    with pytest.raises(CommandError, match="2 failed: line 2 line 3"):
        call_command(
            "import_webhook_events", str(path), stdout=io.StringIO(), stderr=(err := io.StringIO())
        )

    assert "line 2: body is not JSON; skipped" in err.getvalue()
    assert set(WebhookEvent.objects.values_list("stripe_id", flat=True)) == {
        events[0]["id"],
        events[1]["id"],
    }


def test_it_streams_a_pretty_printed_stripe_list_object(tmp_path, events):
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"object": "list", "data": events, "has_more": False}, indent=2))
    out, _ = run(str(path))
    assert "3 processed" in out
    assert WebhookEvent.objects.count() == 3


def test_it_reads_a_one_line_list_object(tmp_path, events):
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"object": "list", "data": events}))
    assert "3 processed" in run(str(path))[0]


def test_it_reads_standard_input(stdin, events):
    stdin("".join(json.dumps(e) + "\n" for e in events).encode())
    assert "3 processed" in run("-")[0]


def test_a_second_run_leaves_stored_events_alone(tmp_path, events):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    run(str(path))
    out, _ = run(str(path))
    assert "3 skipped" in out
    assert set(WebhookEvent.objects.values_list("delivery_count", flat=True)) == {1}
    assert all(effects(e["id"]) == 1 for e in events)


def test_failed_events_exit_non_zero_and_retry_on_request(tmp_path, handlers):
    broken = {"on": True}

    @handlers.handles("invoice.paid")
    def flaky(event):
        if broken["on"]:
            raise RuntimeError("nope")
        mark_effect(event)

    event = make_event("invoice.paid")
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n")
    with pytest.raises(CommandError, match=f"1 failed: {event['id']}"):
        run(str(path))
    broken["on"] = False
    assert "1 skipped" in run(str(path))[0]  # left alone without --retry-failed
    assert "1 processed" in run(str(path), "--retry-failed")[0]
    assert effects(event["id"]) == 1


def test_sigterm_stops_after_the_current_batch_and_the_next_run_resumes(tmp_path, handlers):
    seen = []

    @handlers.handles("invoice.paid")
    def stop_after_second(event):
        seen.append(event.stripe_id)
        mark_effect(event)
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    events = [make_event("invoice.paid") for _ in range(5)]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))

    with pytest.raises(CommandError, match="run the same command again to resume"):
        run(str(path), "--batch-size", "2")
    assert WebhookEvent.objects.count() == 2  # the batch in flight finished and committed

    out, _ = run(str(path))
    assert "3 processed, 2 skipped" in out
    assert all(effects(e["id"]) == 1 for e in events)


def test_a_missing_file_is_one_line_of_error():
    with pytest.raises(CommandError, match=r"^cannot read /nope/events.jsonl: No such file"):
        run("/nope/events.jsonl")


def test_a_duplicate_within_one_batch_is_applied_once(tmp_path, events):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [events[0], events[1], events[0]]))
    assert "2 processed, 1 skipped" in run(str(path))[0]
    assert effects(events[0]["id"]) == 1


def test_a_bad_batch_size_is_one_line_of_error(tmp_path):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        run(str(tmp_path), "--batch-size", "0")


def test_a_blank_first_line_does_not_make_json_lines_a_list(tmp_path, events):
    path = tmp_path / "events.jsonl"
    events[0]["data"]["object"]["lines"] = {"object": "list", "data": []}
    path.write_text("\n" + "".join(json.dumps(e) + "\n" for e in events))
    assert "3 processed" in run(str(path))[0]


def test_a_broken_list_object_keeps_what_came_before_and_exits_non_zero(tmp_path, events):
    path = tmp_path / "list.json"
    text = json.dumps({"object": "list", "data": events}, indent=2)
    path.write_text(text[: text.index(events[2]["id"])])  # cut inside the third event
    with pytest.raises(CommandError, match="1 failed: rest of file"):
        run(str(path))
    assert WebhookEvent.objects.count() == 2
