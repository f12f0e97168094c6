"""Two gunicorn web processes and two queue workers on one PostgreSQL, a storm of duplicated,
shuffled deliveries from several client threads, and one worker killed midway: every event is
acknowledged, applied exactly once, and every student ends a member."""

import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from bootwebhooks.inbox import samples
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.memberships.models import Membership
from bootwebhooks.memberships.services import is_member
from tests.inbox.conftest import effects, handlers  # noqa: F401  (fixture)
from tests.webhooks import make_event, signature_header
from tests.worker_app.apps import slow_effect
from tests.workers import worker_env

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
EVENTS, COPIES, CLIENTS = 40, 3, 4  # slow events; plus STUDENTS signups of 4 events each
STUDENTS = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def deliver(url: str, event: dict, acknowledged: set, lock: threading.Lock) -> None:
    """Like Stripe: retry anything but a 2xx, with backoff, freshly signed each time."""
    body = json.dumps(event).encode()
    for attempt in range(12):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        request.add_header("Stripe-Signature", signature_header(body))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                if 200 <= response.status < 300:
                    with lock:
                        acknowledged.add(event["id"])
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(min(2.0, 0.05 * 2**attempt))


def test_a_storm_through_two_web_processes_and_two_workers_applies_each_event_once(handlers):  # noqa: F811
    handlers.handles("product.created")(slow_effect)
    env = worker_env(
        WEBHOOK_TASK_TIMEOUT="2",
        WEBHOOK_RETRY_BASE_DELAY="1",
        HANDLER_SLEEP="0.02",
        DJANGO_SECURE_SSL_REDIRECT="0",
    )
    ports = [free_port(), free_port()]
    python = sys.executable
    web = [
        subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "bootwebhooks.wsgi:application",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--no-control-socket",  # gunicorn 27 shares one by default
            ],
            cwd=ROOT,
            env=env,
        )
        for port in ports
    ]
    worker_command = [
        python,
        "manage.py",
        "run_webhook_worker",
        "--no-startup-delay",
        "--interval",
        "0.05",
    ]
    workers = [subprocess.Popen(worker_command, cwd=ROOT, env=env) for _ in range(2)]
    try:
        wait_until(lambda: all(_answers(p) for p in ports), 30, "gunicorn")
        slow = [
            make_event("product.created", {"id": f"prod_{i}", "object": "product"})
            for i in range(EVENTS)
        ]
        now = int(time.time())
        students = [User.objects.create_user(f"s{i}", f"s{i}@example.com") for i in range(STUDENTS)]
        signups = [
            event
            for student in students
            for event in samples.customer_journey(
                key=f"storm{student.pk}", user_id=student.pk, email=student.email, now=now
            )
        ]
        events = slow + signups
        deliveries = [e for e in events for _ in range(COPIES)]
        random.Random(7).shuffle(deliveries)
        acknowledged: set[str] = set()
        lock = threading.Lock()

        def client(share: list[dict], index: int) -> None:
            for n, event in enumerate(share):
                url = f"http://127.0.0.1:{ports[(index + n) % 2]}/webhooks/stripe/"
                deliver(url, event, acknowledged, lock)

        shares = [deliveries[i::CLIENTS] for i in range(CLIENTS)]
        clients = [threading.Thread(target=client, args=(s, i)) for i, s in enumerate(shares)]
        for thread in clients:
            thread.start()
        wait_until(
            lambda: WebhookEvent.objects.filter(status="processed").count() >= len(events) // 4,
            60,
            "a quarter processed",
        )
        workers[0].send_signal(signal.SIGKILL)  # midway, likely inside a handler
        for thread in clients:
            thread.join(120)

        assert acknowledged == {e["id"] for e in events}
        unfinished = WebhookEvent.objects.filter(status__in=["pending", "failed"])
        wait_until(lambda: not unfinished.exists(), 90, "every event processed")
        for event in slow:
            assert effects(event["id"]) == 1, event["id"]
        applied = Attempt.objects.filter(outcome__in=["processed", "superseded"])
        applied_ids = list(applied.values_list("event_id", flat=True))
        handled = WebhookEvent.objects.exclude(status="ignored")
        assert len(applied_ids) == len(set(applied_ids)) == handled.count()  # each exactly once
        assert set(WebhookEvent.objects.values_list("delivery_count", flat=True)) == {COPIES}
        period_end = datetime.fromtimestamp(now + samples.MONTH, tz=UTC)
        for student in students:
            membership = Membership.objects.get(user=student)
            assert (membership.status, membership.plan) == ("active", "monthly")
            assert membership.access_until == period_end
            assert is_member(student)
    finally:
        for process in web + workers:
            if process.poll() is None:
                process.terminate()
        for process in web + workers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True
