"""A configuration error ends any command, and any application server, with one line and a
non-zero exit: never a traceback, never a process left waiting or booting workers forever."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from bootwebhooks.inbox.checks import raise_on_errors
from bootwebhooks.inbox.models import WebhookEvent

ROOT = Path(__file__).resolve().parent.parent
ONE_LINE = "configuration error: "
NO_SECRET = (
    ONE_LINE + "inbox.E001: STRIPE_WEBHOOK_SECRETS is not set: every webhook would be refused. "
    "(hint: Set it to the endpoint's signing secret (whsec_...) from the Stripe dashboard; "
    "during a roll give both, comma-separated. `make run` sets a demo one.)"
)
# Nothing listens on port 1.
NO_DATABASE = {
    "STRIPE_WEBHOOK_SECRETS": "whsec_x",
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/x",
}


def run(args: list[str], timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """`python ARGS` in the project without the caller's Django and Stripe settings, on a
    database of its own in memory."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))}
    base["DATABASE_URL"] = "sqlite://:memory:"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_runserver_without_a_secret_exits_with_one_line():
    """The finding: it printed a thread traceback, then waited for a file to change."""
    try:
        result = run(["manage.py", "runserver", "127.0.0.1:0"])
    except subprocess.TimeoutExpired:
        pytest.fail("runserver kept running without a signing secret")
    line = one_line_error(result)
    assert line.startswith(ONE_LINE + "inbox.E001: STRIPE_WEBHOOK_SECRETS is not set")


@pytest.mark.parametrize("command", [["migrate"], ["runserver", "127.0.0.1:0"], ["shell"]])
def test_an_unreadable_setting_is_one_line_whichever_command_reads_it(command):
    env = {"STRIPE_WEBHOOK_SECRETS": "whsec_x", "STRIPE_WEBHOOK_TOLERANCE": "five minutes"}
    result = run(["manage.py", *command], **env)
    line = one_line_error(result)
    assert line == ONE_LINE + "STRIPE_WEBHOOK_TOLERANCE must be an integer, got 'five minutes'"


@pytest.mark.parametrize(
    ("setting", "value", "check"),
    [
        ("WEBHOOK_LOCK_TIMEOUT", -1, "inbox.E009"),
        ("WEBHOOK_STATEMENT_TIMEOUT", "-5", "inbox.E009"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,localhost", "inbox.E010"),
    ],
)
def test_a_bad_bound_or_network_is_a_check_error(settings, setting, value, check):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError, match=check.replace(".", r"\.")):
        call_command("check")


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["createsuperuser", "--no-input"],
        ["send_test_webhook", "--list"],  # the project's own commands too
        ["migrate", "--traceback"],
    ],
)
def test_a_check_error_stops_any_command_with_one_line(command):
    """The gap: every command but runserver printed Django's multi-line report."""
    assert one_line_error(run(["manage.py", *command])) == NO_SECRET


@pytest.mark.parametrize(
    "command", [["migrate"], ["replay_webhook_events", "--status", "failed", "--dry-run"]]
)
def test_a_database_that_cannot_be_reached_is_one_line(command):
    """psycopg's connection error, said in one line."""
    line = one_line_error(run(["manage.py", *command], **NO_DATABASE))
    assert line.startswith("database error: OperationalError: connection failed:")
    assert "127.0.0.1" in line and "port 1" in line


def test_a_database_error_keeps_its_traceback_when_asked():
    result = run(["manage.py", "migrate", "--traceback"], **NO_DATABASE)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_several_check_errors_share_the_line():
    result = run(["manage.py", "migrate"], STRIPE_WEBHOOK_TOLERANCE="0")
    tolerance = "; inbox.E003: STRIPE_WEBHOOK_TOLERANCE must be a positive number of seconds."
    assert one_line_error(result).startswith(NO_SECRET + tolerance)


def test_a_warning_does_not_stop_a_command():
    result = run(["manage.py", "send_test_webhook", "--list"], STRIPE_WEBHOOK_SECRETS="sk_oops")
    assert result.returncode == 0, result.stderr
    assert "invoice.paid" in result.stdout
    assert "(inbox.W002) STRIPE_WEBHOOK_SECRETS item 1" in result.stderr  # Django's report


def test_a_command_that_skips_the_checks_still_runs():
    result = run(["manage.py", "shell", "-c", "print('ran')"])  # shell runs no checks
    assert (result.returncode, result.stdout.split()[-1]) == (0, "ran")


def test_runserver_skip_checks_skips_them():
    result = run(["manage.py", "runserver", "--skip-checks", "--noreload", "no-such-address"])
    assert one_line_error(result) == (
        'CommandError: "no-such-address" is not a valid port number or address:port pair.'
    )


def test_check_deploy_keeps_its_full_report():
    """Reporting is the job of `check` (and `check --deploy`): every message, warnings and
    hints included, then exit 1."""
    result = run(["manage.py", "check", "--deploy"])
    assert result.returncode == 1
    assert "(inbox.E001) STRIPE_WEBHOOK_SECRETS is not set" in result.stderr
    assert "HINT: Set it to the endpoint's signing secret" in result.stderr
    assert "(security.W009)" in result.stderr  # a warning beside the error
    assert ONE_LINE not in result.stderr


def test_the_line_names_the_object_and_leaves_out_warnings_and_silenced_errors(settings):
    settings.SILENCED_SYSTEM_CHECKS = ["x.E003"]
    messages = [
        checks.Error("first\n  problem", hint="fix it", obj=WebhookEvent, id="x.E001"),
        checks.Warning("only a warning", id="x.W002"),
        checks.Error("silenced", id="x.E003"),
    ]
    with pytest.raises(ImproperlyConfigured) as raised:
        raise_on_errors(messages)
    assert (
        str(raised.value) == "x.E001: bootwebhooks_inbox.WebhookEvent: first problem (hint: fix it)"
    )


@pytest.mark.parametrize("module", ["bootwebhooks.wsgi", "bootwebhooks.asgi"])
def test_loading_the_application_without_a_secret_exits_3_with_one_line(module):
    result = run(["-c", f"import {module}"])
    assert result.returncode == 3  # gunicorn's "worker failed to boot"
    assert one_line_error(result) == NO_SECRET


def test_the_application_loads_with_a_secret():
    result = run(["-c", "import bootwebhooks.wsgi"], STRIPE_WEBHOOK_SECRETS="whsec_x")
    assert (result.returncode, result.stderr) == (0, "")


def test_loading_the_application_with_an_unreadable_setting_exits_3_with_one_line():
    result = run(["-c", "import bootwebhooks.wsgi"], STRIPE_WEBHOOK_TOLERANCE="five minutes")
    assert result.returncode == 3
    line = one_line_error(result)
    assert line == ONE_LINE + "STRIPE_WEBHOOK_TOLERANCE must be an integer, got 'five minutes'"


@pytest.mark.parametrize("preload", [[], ["--preload"]])
def test_gunicorn_stops_with_one_line_instead_of_booting_workers_forever(preload):
    try:
        result = run(
            [
                *("-m", "gunicorn", "bootwebhooks.wsgi:application", *preload),
                *("--bind", "127.0.0.1:0", "--workers", "1", "--no-control-socket"),
            ],
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("gunicorn kept running without a signing secret")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if not line.startswith("[")]
    assert ours == [NO_SECRET], result.stderr  # gunicorn's own log lines start with [time]
