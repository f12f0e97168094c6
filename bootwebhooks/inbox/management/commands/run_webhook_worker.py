import logging
import threading

from django.db import connection
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.queue import requeue_stalled

logger = logging.getLogger(__name__)


class Command(DatabaseWorkerCommand):
    help = (
        "Process queued Stripe events (django-tasks-db's worker), and every so often requeue "
        "events whose worker died mid-task (see WEBHOOK_TASK_TIMEOUT)."
    )

    def handle(self, *args, **options) -> None:
        requeue_stalled()  # before the first task, so a restarted worker picks them up
        stop = threading.Event()
        sweeper = threading.Thread(target=self.sweep, args=(stop,), daemon=True)
        sweeper.start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()

    def sweep(self, stop: threading.Event) -> None:
        interval = max(1, min(60, app_settings.WEBHOOK_TASK_TIMEOUT // 2))
        while not stop.wait(interval):
            try:
                requeue_stalled()
            except Exception:  # a database blip must not end the sweeping for good
                logger.exception("could not requeue stalled events")
            finally:
                connection.close()
