"""`--jobs N`: import and backfill in N forked lanes, each customer's events in one lane.

The lanes are real processes with their own connections, so these tests commit for real
(transactional database) and run on PostgreSQL; on SQLite the commands say so and run in one
process.
"""

import io
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection, connections

from bootwebhooks.inbox.management.lanes import customer_key, lane_of
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event

SINCE = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%d")
NOW = int(time.time())


def customers_events(customers: int, each: int, start: int = NOW - 3600) -> list[dict]:
    """`each` invoice.paid events per customer, interleaved across customers, in time order."""
    events = []
    for i in range(each):
        for c in range(customers):
            invoice = {"id": f"in_{c}_{i}", "object": "invoice", "customer": f"cus_lane{c}"}
            events.append(make_event("invoice.paid", invoice, created=start + i))
    return events


@pytest.fixture
def recorded(handlers):
    """Each application is a Group row (ids grow with commit order within a lane)."""
    handlers.handles("invoice.paid")(mark_effect)


def applied_order(customer: str) -> list[str]:
    names = Group.objects.filter(name__contains=":effect:").order_by("pk")
    by_event = dict(WebhookEvent.objects.values_list("stripe_id", "customer_id"))
    return [n.split(":")[0] for n in names.values_list("name", flat=True)
            if by_event[n.split(":")[0]] == customer]  # fmt: skip


def write_jsonl(path, events) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_in_two_lanes_applies_every_event_once_in_each_customers_order(
    tmp_path, recorded
):
    events = customers_events(customers=6, each=5)
    assert len({lane_of(f"cus_lane{c}", 2) for c in range(6)}) == 2  # both lanes get work

    out = io.StringIO()
    call_command(
        "import_webhook_events", write_jsonl(tmp_path / "e.jsonl", events),
        "--jobs", "2", "--batch-size", "4", stdout=out, stderr=io.StringIO(),
    )  # fmt: skip

    assert "30 processed" in out.getvalue()
    assert all(effects(e["id"]) == 1 for e in events)
    assert set(Attempt.objects.values_list("trigger", flat=True)) == {"command"}
    for c in range(6):
        in_file = [e["id"] for e in events if e["data"]["object"]["customer"] == f"cus_lane{c}"]
        assert applied_order(f"cus_lane{c}") == in_file


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backfill_in_two_lanes_processes_every_event_once(fake_stripe, recorded):
    fake_stripe.events = customers_events(customers=5, each=30)

    out = io.StringIO()
    call_command("backfill_stripe_events", "--since", SINCE, "--jobs", "2", stdout=out, stderr=out)

    assert "150 processed" in out.getvalue()
    assert all(effects(e["id"]) == 1 for e in fake_stripe.events)
    assert WebhookEvent.objects.filter(status="processed", source="backfill").count() == 150
    for c in range(5):
        ours = [e for e in fake_stripe.events if e["data"]["object"]["customer"] == f"cus_lane{c}"]
        expected = sorted(ours, key=lambda e: (e["created"], e["id"]))
        assert applied_order(f"cus_lane{c}") == [e["id"] for e in expected]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_lanes_after_their_chunk_and_the_next_run_resumes(tmp_path, handlers):
    command = os.getpid()

    @handlers.handles("invoice.paid")
    def stop_the_command_once(event):  # runs in a lane: a forked child
        mark_effect(event)
        if event.stripe_id == stop_at and os.getppid() == command:
            os.kill(command, signal.SIGTERM)

    events = customers_events(customers=4, each=25)
    stop_at = events[10]["id"]
    path = write_jsonl(tmp_path / "e.jsonl", events)

    with pytest.raises(CommandError, match="run the same command again to resume"):
        call_command(
            "import_webhook_events", path, "--jobs", "2", "--batch-size", "5",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    first = WebhookEvent.objects.count()
    assert 0 < first < len(events)
    assert WebhookEvent.objects.exclude(status="processed").count() == 0  # whole chunks only

    stop_at = ""  # the lanes of the second run fork after this: no stop
    out = io.StringIO()
    call_command("import_webhook_events", path, "--jobs", "2", stdout=out, stderr=io.StringIO())

    assert f"{len(events) - first} processed, {first} skipped" in out.getvalue()
    assert all(effects(e["id"]) == 1 for e in events)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_event_in_a_lane_is_reported_by_the_command(tmp_path, handlers):
    @handlers.handles("invoice.paid")
    def broken(event):
        raise RuntimeError("nope")

    events = customers_events(customers=3, each=2)
    with pytest.raises(CommandError, match="6 failed"):
        call_command(
            "import_webhook_events", write_jsonl(tmp_path / "e.jsonl", events),
            "--jobs", "3", stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"failed"}


@pytest.mark.django_db
def test_without_postgresql_jobs_run_in_one_process(tmp_path, recorded):
    if connection.vendor == "postgresql":
        pytest.skip("the fallback is for other databases")
    events = customers_events(customers=2, each=2)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_webhook_events", write_jsonl(tmp_path / "e.jsonl", events),
        "--jobs", "4", stdout=out, stderr=err,
    )  # fmt: skip
    assert "--jobs 4 needs PostgreSQL; running in one process on sqlite" in err.getvalue()
    assert "4 processed" in out.getvalue()


@pytest.mark.parametrize("command", ["import_webhook_events", "backfill_stripe_events"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_a_bad_jobs_value_is_one_line_of_error(command, value, tmp_path):
    args = ["-"] if command == "import_webhook_events" else ["--since", SINCE]
    with pytest.raises(CommandError, match=f"--jobs: not a positive whole number: '{value}'"):
        call_command(command, *args, "--jobs", value)


def test_a_customers_events_share_a_lane_whatever_names_it():
    key = customer_key("cus_1", "a@example.com", "in_1", "evt_1")
    assert key == "cus_1"
    assert customer_key("", "a@example.com", "in_1", "evt_1") == "a@example.com"
    assert customer_key("", "", "ch_1", "evt_2") == "ch_1"
    assert customer_key("", "", "", "evt_3") == "evt_3"
    assert {lane_of(key, 4) for _ in range(3)} == {lane_of("cus_1", 4)}


class DeadlockDetected(Exception):
    """What either PostgreSQL driver raises for a lock cycle: its SQLSTATE under psycopg 3's
    name and psycopg2's."""

    sqlstate = pgcode = "40P01"


def deadlock_once(seen: list[str], only: str = ""):
    """A handler whose first run of each event (or of `only`) meets a lock cycle, as
    PostgreSQL reports one."""

    def handler(event):
        mark_effect(event)
        if event.stripe_id not in seen and only in ("", event.stripe_id):
            seen.append(event.stripe_id)
            try:
                raise DeadlockDetected("deadlock detected")
            except DeadlockDetected as cause:
                raise OperationalError("deadlock detected") from cause

    return handler


@pytest.mark.django_db(transaction=True)
def test_a_lock_conflict_in_an_import_reruns_the_chunk_instead_of_failing_events(
    tmp_path, handlers
):
    events = customers_events(customers=1, each=3)
    handlers.handles("invoice.paid")(deadlock_once(seen := [], only=events[1]["id"]))

    out = io.StringIO()
    call_command(
        "import_webhook_events", write_jsonl(tmp_path / "e.jsonl", events),
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip

    assert "3 processed" in out.getvalue()
    assert seen == [events[1]["id"]]  # the chunk rolled back there, then ran again whole
    assert all(effects(e["id"]) == 1 for e in events)
    assert not Attempt.objects.filter(outcome="failed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_lock_conflict_in_a_backfill_runs_the_event_again(fake_stripe, handlers):
    handlers.handles("invoice.paid")(deadlock_once(seen := []))
    fake_stripe.events = customers_events(customers=1, each=3)

    out = io.StringIO()
    call_command("backfill_stripe_events", "--since", SINCE, stdout=out, stderr=out)

    assert "3 processed" in out.getvalue()
    assert len(seen) == 3  # every event met one conflict and went through on its second run
    assert all(effects(e["id"]) == 1 for e in fake_stripe.events)
    assert not Attempt.objects.filter(outcome="failed").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lane_that_dies_does_not_hang_the_command_and_its_events_wait(tmp_path, handlers):
    command = os.getpid()

    @handlers.handles("invoice.paid")
    def die_once(event):
        mark_effect(event)
        if event.stripe_id == doomed and os.getppid() == command:
            os._exit(3)  # the lane is killed mid-chunk (say, by the OOM killer)

    events = customers_events(customers=4, each=30)
    doomed = events[5]["id"]
    path = write_jsonl(tmp_path / "e.jsonl", events)

    signal.alarm(120)  # a hang fails the test instead of the suite
    try:
        with pytest.raises(CommandError, match=r"failed: .*lane-\d"):
            call_command(
                "import_webhook_events", path, "--jobs", "2", "--batch-size", "5",
                stdout=io.StringIO(), stderr=(err := io.StringIO()),
            )  # fmt: skip
    finally:
        signal.alarm(0)
    assert "exited with 3: its unfinished events are left for the next run" in err.getvalue()

    doomed = ""
    out = io.StringIO()
    call_command("import_webhook_events", path, "--jobs", "2", stdout=out, stderr=io.StringIO())
    assert all(effects(e["id"]) == 1 for e in events)
    assert WebhookEvent.objects.filter(status="processed").count() == len(events)


def test_a_lane_never_uses_or_closes_a_connection_that_came_across_the_fork(monkeypatch):
    from bootwebhooks.inbox.management import lanes

    wrapper = connections["default"]
    inherited = object()  # closing or querying it would fail loudly
    monkeypatch.setattr(wrapper, "connection", inherited)
    monkeypatch.setattr(lanes, "_inherited", [])

    lanes._drop_inherited_connections()

    assert wrapper.connection is None  # the lane's next query connects afresh
    assert lanes._inherited == [inherited]  # kept referenced: never finalised in the lane
