"""Handlers for worker processes started by the tests (settings: tests.worker_settings)."""

import os
import time
import uuid

from django.apps import AppConfig


def slow_effect(event) -> None:
    from django.contrib.auth.models import Group

    Group.objects.create(name=f"{event.stripe_id}:effect:{uuid.uuid4().hex}")
    if os.environ.get("SLOW_HANDLER") in ("1", event.stripe_id):  # every event, or this one
        time.sleep(120)  # long enough to be killed mid-transaction
    time.sleep(float(os.environ.get("HANDLER_SLEEP", "0")))


class WorkerAppConfig(AppConfig):
    name = "tests.worker_app"
    label = "worker_app"

    def ready(self) -> None:
        from bootwebhooks.inbox.registry import handles

        handles("product.created")(slow_effect)
