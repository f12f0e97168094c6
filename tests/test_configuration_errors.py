"""A configuration error ends any command with one line and a non-zero exit, never a
traceback, never a process left waiting."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parent.parent
ONE_LINE = "configuration error: "


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
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
