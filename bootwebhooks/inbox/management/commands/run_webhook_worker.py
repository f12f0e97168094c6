import logging
import os
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.checks import QUEUE_SETTINGS, queue_problem
from bootwebhooks.inbox.management.lanes import positive

try:
    from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand
except ImportError:  # the `queue` extra is not installed: handle() says so in one line
    DatabaseWorkerCommand = BaseCommand

logger = logging.getLogger(__name__)
WORKER_OPTIONS = ("interval", "backend_name", "startup_delay", "max_tasks", "worker_id")
EVENTS_PER_TRANSACTION = 25


class Command(DatabaseWorkerCommand):
    help = (
        "Process queued Stripe events (django-tasks-db's worker, several events per "
        "transaction), and every so often requeue events whose worker died mid-task (see "
        "WEBHOOK_TASK_TIMEOUT)."
    )

    def add_arguments(self, parser) -> None:
        # db_worker's own arguments check the backend while parsing, with argparse's usage
        # dump: without a queue, handle() explains instead.
        if not queue_problem():
            super().add_arguments(parser)
            parser.add_argument(
                "--events-per-transaction",
                type=positive,
                default=EVENTS_PER_TRANSACTION,
                help="tasks taken, and events processed, per transaction (default: %(default)s)",
            )

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
            self.run_worker(**options)
        finally:
            stop.set()

    def run_worker(
        self,
        *,
        verbosity: int,
        queue_name: str,
        exclude_queues: str,
        reload: bool,
        batch: bool,
        events_per_transaction: int,
        **options,
    ) -> None:
        """db_worker's handle(), starting the batching worker instead of its own."""
        from bootwebhooks.inbox.worker import BatchWorker

        self.configure_logging(verbosity)
        queue_names = queue_name.split(",")
        excluded = exclude_queues.split(",") if exclude_queues else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = BatchWorker(
            events_per_transaction=events_per_transaction,
            queue_names=queue_names,
            excluded_queue_names=excluded,
            batch=batch,
            **{name: options[name] for name in WORKER_OPTIONS},
        )
        if reload and not batch:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":  # the reloader's child
                worker.configure_signals()
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()

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
