"""Queue worker processes for tests: `manage.py run_webhook_worker` on the test database."""

import io
import os
import sys
from pathlib import Path

from django.core.management import call_command
from django.db import connection

from tests.webhooks import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
WORKER = [sys.executable, "manage.py", "run_webhook_worker", "--no-startup-delay"]


def worker_env(**settings: str) -> dict[str, str]:
    """The environment of a worker (or gunicorn) process in queued mode on the test database,
    with its handlers from tests.worker_app and any other settings given."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "STRIPE_WEBHOOK_SECRETS": TEST_SECRET,
        "WEBHOOK_PROCESSING": "queued",
        **settings,
    }


def work(*options: str) -> None:
    """Run a worker in this process until no task is ready (django-tasks-db's --batch mode)."""
    call_command(
        "run_webhook_worker",
        "--batch",
        "--no-startup-delay",
        "--interval",
        "0",
        *options,
        stdout=io.StringIO(),
    )


def customers_locked() -> int:
    """The customer (or object) locks workers hold in this database: a batch in progress
    holds its customers' (read without touching the task rows a worker may be taking)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]
