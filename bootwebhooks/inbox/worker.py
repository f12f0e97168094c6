"""Queued mode's worker: django-tasks-db's, taking several webhook tasks per transaction.

Imported only once `run_webhook_worker` has checked that the queue is installed.
"""

import logging
import random
import time

from django.db import close_old_connections
from django.db.models import QuerySet
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from bootwebhooks.inbox.queue import process_batch

logger = logging.getLogger("django_tasks_db")


class BatchWorker(Worker):
    """db_worker's loop, with `process_batch` where it claimed one task per transaction.

    Each round takes up to `events_per_transaction` ready tasks in the queue's order; tasks of
    other kinds on the same queues still run, one at a time, as db_worker runs them. SIGTERM
    lets the current batch commit, then the worker exits.
    """

    def __init__(self, *, events_per_transaction: int, **options) -> None:
        super().__init__(**options)
        self.events_per_transaction = events_per_transaction

    def run(self) -> None:
        queues = ",".join(self.queue_names)
        logger.info("Starting worker worker_id=%s queues=%s", self.worker_id, queues)
        if self.startup_delay and self.interval:
            time.sleep(random.random())  # noqa: S311  (spreads a fleet's start, as db_worker)
        while self.running:
            close_old_connections()
            worked = self.work()
            if self.batch and not worked:
                logger.info("No more tasks to run for worker_id=%s - exiting.", self.worker_id)
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                logger.info("Ran %d tasks - exiting.", self._run_tasks)
                return
            close_old_connections()
            if self.running and not worked:
                time.sleep(self.interval)

    def work(self) -> bool:
        """One batch, then its tasks that must run alone; whether there was anything to do."""
        size = self.events_per_transaction
        if self.max_tasks is not None:
            size = min(size, self.max_tasks - self._run_tasks)
        self.running_task = True  # SIGTERM now waits for the commit
        try:
            batch = process_batch(self.ready(), size=size, worker_id=self.worker_id)
        finally:
            self.running_task = False
        self._run_tasks += batch.finished
        for task_id in batch.alone:
            if self.running:
                self.run_one(self.ready().filter(pk=task_id))
        return batch.taken > 0

    def ready(self) -> QuerySet:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        return tasks

    def run_one(self, tasks: QuerySet) -> None:
        """Claim the first of `tasks`, if another worker has not, and run it as db_worker does."""
        with exclusive_transaction(tasks.db):
            task_result = tasks.get_locked()
            if task_result is not None:
                task_result.claim(self.worker_id)
        if task_result is not None:
            self.run_task(task_result)
