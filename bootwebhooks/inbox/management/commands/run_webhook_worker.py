import logging
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.checks import QUEUE_SETTINGS, queue_problem

try:
    from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand
except ImportError:  # the `queue` extra is not installed: handle() says so in one line
    DatabaseWorkerCommand = BaseCommand

logger = logging.getLogger(__name__)


class Command(DatabaseWorkerCommand):
    help = (
        "Process queued Stripe events (django-tasks-db's worker), and every so often requeue "
        "events whose worker died mid-task (see WEBHOOK_TASK_TIMEOUT)."
    )

    def add_arguments(self, parser) -> None:
        # db_worker's own arguments check the backend while parsing, with argparse's usage
        # dump: without a queue, handle() explains instead.
        if not queue_problem():
            super().add_arguments(parser)

    def handle(self, *args, **options) -> None:
        problem = queue_problem()
        if problem:
            raise CommandError(
                f"cannot run the webhook worker: {problem}. Install bootwebhooks[queue], add "
                f"django_tasks and django_tasks_db to INSTALLED_APPS and set {QUEUE_SETTINGS}"
            )
        from bootwebhooks.inbox.queue import requeue_stalled

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
        from bootwebhooks.inbox.queue import requeue_stalled

        while not stop.wait(interval):
            try:
                requeue_stalled()
            except Exception:  # a database blip must not end the sweeping for good
                logger.exception("could not requeue stalled events")
            finally:
                connection.close()
