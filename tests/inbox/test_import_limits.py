"""The import trusts nothing in its file: a bad item fails alone, by line, with a clear
message; caps keep memory flat; no input ends the run with a traceback."""

import io
import json
import tracemalloc

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DataError

from bootwebhooks.inbox.ingest import MAX_DEPTH
from bootwebhooks.inbox.management.commands import import_webhook_events
from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import mark_effect
from tests.webhooks import make_event

pytestmark = pytest.mark.django_db


def run(path, *args: str) -> tuple[str, str, str]:
    """(stdout, stderr, the one-line error or "")."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_webhook_events", str(path), *args, stdout=out, stderr=err)
        error = ""
    except CommandError as exc:
        error = str(exc)
    return out.getvalue(), err.getvalue(), error


def write_lines(path, *lines) -> None:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
            for line in lines
        )
    )


@pytest.fixture
def events(handlers):
    handlers.handles("invoice.paid")(mark_effect)
    return [make_event("invoice.paid") for _ in range(6)]


def imported() -> set[str]:
    return set(WebhookEvent.objects.values_list("stripe_id", flat=True))


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_nul_in_a_name_no_longer_fails_its_chunk(tmp_path, events):
    """The finding: one NUL failed all 6 events of its chunk, on every rerun."""
    events[2]["data"]["object"]["customer_details"] = {"name": "Ada\u0000"}
    events[3]["data"]["object"]["customer_email"] = "\u0130" * 200
    write_lines(tmp_path / "e.jsonl", *events)

    out, _, error = run(tmp_path / "e.jsonl")

    assert error == ""
    assert "6 processed" in out
    assert imported() == {e["id"] for e in events}


def test_a_failing_chunk_is_retried_event_by_event_so_the_good_ones_land(
    tmp_path, events, monkeypatch
):
    bad = events[3]["id"]
    real = import_webhook_events.ingest_batch

    def refusing(batch, **kwargs):
        if any(parsed.id == bad for parsed in batch):
            raise DataError("value the database refuses")
        return real(batch, **kwargs)

    monkeypatch.setattr(import_webhook_events, "ingest_batch", refusing)
    write_lines(tmp_path / "e.jsonl", *events)

    out, err, error = run(tmp_path / "e.jsonl")

    assert imported() == {e["id"] for e in events} - {bad}
    assert f"line 4 ({bad}): not imported: DataError('value the database refuses')" in err
    assert error == f"1 failed: {bad}"
    assert "5 processed" in out


def test_a_deeply_nested_line_is_reported_by_number_without_a_traceback(tmp_path, events):
    deep = make_event("invoice.paid", obj={"id": "in_deep", **nested(MAX_DEPTH + 10)})
    deeper = b"[" * 200_000 + b"]" * 200_000  # beyond what json can parse at all
    write_lines(tmp_path / "e.jsonl", events[0], deep, deeper, events[1])

    _, err, error = run(tmp_path / "e.jsonl")

    assert f"line 2: body is nested deeper than {MAX_DEPTH} levels; skipped" in err
    assert f"line 3: body is nested deeper than {MAX_DEPTH} levels; skipped" in err
    assert error == "2 failed: line 2 line 3"
    assert imported() == {events[0]["id"], events[1]["id"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"object":"list","data":5}', 'line 1 data: "data" is not a list of events'),
        (b'{"object":"list","data":null}', 'line 1 data: "data" is not a list of events'),
        (b'{"object":"list","data":[5, "x", null]}', "line 1 item 1: body is not a Stripe event"),
        (b'{"object":"list"}', 'line 1 list object: it has no "data" list'),
        (b"\xff\xfe\x00garbage", "line 1: body is not JSON"),
        (b"[1, 2, 3]", "line 1: body is not a Stripe event object"),
        (b'{"object":"list","data":[{"a":', "line 1: the list object breaks: "),
        (b'{"object":"list","data":[{"a": "\xff"}]}', "line 1: the list object breaks: "),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_a_clear_message(tmp_path, content, message):
    (tmp_path / "f").write_bytes(content)
    _, err, error = run(tmp_path / "f")
    assert message in err
    assert error.startswith(("1 failed", "3 failed"))
    assert "Traceback" not in err


def test_a_line_over_the_cap_is_skipped_without_being_held_in_memory(tmp_path, events, settings):
    """The finding: a single 300 MB line used 928 MB. Here a 24 MB line with a 64 KB cap."""
    settings.WEBHOOK_MAX_BODY_BYTES = 64 * 1024
    huge = json.dumps(make_event("invoice.paid", description="x" * (24 << 20))).encode()
    write_lines(tmp_path / "e.jsonl", events[0], huge, events[1])

    tracemalloc.start()
    try:
        _, err, error = run(tmp_path / "e.jsonl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "line 2: longer than 65,536 bytes; skipped" in err
    assert error == "1 failed: line 2"
    assert imported() == {events[0]["id"], events[1]["id"]}
    assert peak < 8 << 20  # a third of the line, most of it the test's own copy's slack


def test_a_list_item_over_the_caps_is_skipped_and_the_rest_imports(tmp_path, events, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 64 * 1024
    big = make_event("invoice.paid", description="x" * 100_000)
    deep = make_event("invoice.paid", obj={"id": "in_deep", **nested(MAX_DEPTH + 5)})
    listing = {"object": "list", "data": [events[0], big, deep, events[1]], "has_more": False}
    (tmp_path / "l.json").write_text(json.dumps(listing, indent=2))

    _, err, error = run(tmp_path / "l.json")

    assert "item 2: larger than 65,536 bytes; skipped" in err
    assert f"item 3: nested deeper than {MAX_DEPTH} levels; skipped" in err
    assert error == "2 failed: item 2 item 3"
    assert imported() == {events[0]["id"], events[1]["id"]}


def test_a_list_object_with_a_line_over_the_cap_stops_with_a_clear_message(
    tmp_path, events, monkeypatch
):
    monkeypatch.setattr(import_webhook_events, "MAX_LINE", 1 << 20)
    big = make_event("invoice.paid", description="x" * (3 << 20))
    listing = {"object": "list", "data": [events[0], big, events[1]]}
    (tmp_path / "l.json").write_text(json.dumps(listing, indent=2))

    _, err, error = run(tmp_path / "l.json")

    assert "is longer than 1,048,576 bytes" in err
    assert error.endswith("rest of file")
    assert imported() == {events[0]["id"]}


def test_a_one_line_list_object_is_streamed_whatever_its_size(tmp_path, events, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 64 * 1024
    listing = {"object": "list", "data": events * 40}  # well over the item cap in all
    (tmp_path / "l.json").write_text(json.dumps(listing))
    out, _, error = run(tmp_path / "l.json")
    assert error == ""
    assert "6 processed" in out and "234 skipped" in out


def test_json_lines_after_a_one_line_list_object_are_read_line_by_line(tmp_path, events):
    """Found by the Hypothesis suite: a list object on the first line made the whole file one
    JSON stream, so a broken list lost every line after it."""
    (tmp_path / "f").write_bytes(
        b'{"object":"list","data":5}\n'
        + json.dumps({"object": "list", "data": events[:2]}).encode()
        + b"\n{broken\n"
        + json.dumps(events[2]).encode()
        + b"\n"
    )
    _, err, error = run(tmp_path / "f")
    assert 'line 1 data: "data" is not a list of events; skipped' in err
    assert "line 3: body is not JSON; skipped" in err
    assert error == "2 failed: line 1 data line 3"
    assert imported() == {e["id"] for e in events[:3]}


@pytest.mark.parametrize("indent", [None, 2])
def test_a_list_object_holding_a_lone_surrogate_escape_is_imported(tmp_path, events, indent):
    """Valid JSON that yajl cannot decode (found by the Hypothesis suite): the list is read
    again with the slower parser from where yajl stopped, and nothing is imported twice."""
    events[1]["api_version"] = "\udc00"
    listing = {"object": "list", "data": events[:3]}
    (tmp_path / "l.json").write_text(json.dumps(listing, indent=indent))

    out, _, error = run(tmp_path / "l.json")

    assert error == ""
    assert "3 processed" in out
    assert imported() == {e["id"] for e in events[:3]}


@pytest.mark.parametrize("indent", [None, 2])
def test_a_list_object_yajl_refuses_is_imported_from_a_pipe_too(stdin, events, indent):
    """A pipe cannot be read twice: its list objects go to the Python parser from the start,
    rather than stopping where yajl did with a decoding error about valid JSON."""
    events[1]["api_version"] = "\udc00"
    stdin(json.dumps({"object": "list", "data": events[:3]}, indent=indent).encode())

    out, err, error = run("-")

    assert (err, error) == ("", "")
    assert "3 processed" in out
    assert imported() == {e["id"] for e in events[:3]}
