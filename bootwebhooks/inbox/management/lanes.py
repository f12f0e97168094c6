"""Spreading a command's events over worker processes, each customer's events in one lane.

One command process uses one core, while the webhook has a gunicorn worker per core. With
`--jobs N` an import or backfill forks N workers ("lanes") and routes every event by its
customer: one customer's events all go through one lane, in the order the command read them,
so the per-customer order the single-process run keeps is kept, and two lanes rarely want the
same rows. Each lane works through chunks of events, one transaction per chunk, exactly as the
single-process run does; with one job the same chunks run in the command's own process.

The parent reads, routes, and reports: the lanes send back one `Outcome` per event, which the
parent counts and prints, so progress, the summary and the exit status are the same either
way. A stop (Ctrl-C, SIGTERM) reaches the lanes through an event: each finishes the chunk it is
in, commits, and exits; chunks not started are left for the next run. Forking needs PostgreSQL
(SQLite serialises writers anyway, and its in-memory test databases cannot be shared).
"""

import argparse
import multiprocessing
import os
import queue
import signal
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections

_POLL = 0.2  # seconds between checks for a stop or a dead parent while waiting


@dataclass(frozen=True)
class Outcome:
    """What became of one item: counted under `outcome`, `message` printed if given."""

    outcome: str
    item_id: str = ""
    message: str = ""


Work = Callable[[list[Any], Callable[[], bool]], list[Outcome]]


def customer_key(customer_id: str, email: str, object_id: str, event_id: str) -> str:
    """What keeps an event in its customer's lane: the customer, else the email, else the
    object (a charge and its refund), else the event itself."""
    return customer_id or email or object_id or event_id


def lane_of(key: str, jobs: int) -> int:
    """A stable lane for a routing key."""
    return zlib.crc32(key.encode()) % jobs


def add_jobs_argument(parser: Any) -> None:
    parser.add_argument(
        "--jobs",
        type=positive,
        default=1,
        help="worker processes, one lane of customers each (PostgreSQL; default 1)",
    )


def positive(value: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {value!r}")
    return number


def usable_jobs(jobs: int) -> tuple[int, str]:
    """The number of lanes this database allows, and why if fewer than asked."""
    if jobs > 1 and connection.vendor != "postgresql":
        return 1, f"--jobs {jobs} needs PostgreSQL; running in one process on {connection.vendor}"
    return jobs, ""


class Lanes:
    """Route items by key into `jobs` lanes; each lane calls `work(chunk, stopping)`.

    Use as a context manager: `put()` items, then leave the block; `results()` yields the
    outcomes as they come back (the parent calls it between puts to keep progress moving).
    """

    def __init__(
        self, work: Work, *, jobs: int, chunk: int, stop_requested: Callable[[], bool]
    ) -> None:
        self.work, self.jobs, self.chunk = work, jobs, chunk
        self.stop_requested = stop_requested
        self.pending: list[list[Any]] = [[] for _ in range(jobs)]
        self.done: list[Outcome] = []
        self.stopped = False
        self.workers: list[multiprocessing.Process] = []

    def __enter__(self) -> "Lanes":
        if self.jobs > 1:
            context = multiprocessing.get_context("fork")
            self.stop_event = context.Event()
            self.results_queue = context.Queue()
            self.inboxes = [context.Queue(maxsize=2) for _ in range(self.jobs)]
            # A forked child must not share the parent's database sockets: close them all, and
            # both sides reconnect on their next query.
            connections.close_all()
            parent = os.getpid()
            for lane in range(self.jobs):
                worker = context.Process(
                    target=_lane_main,
                    args=(self.work, self.inboxes[lane], self.results_queue, self.stop_event),
                    kwargs={"parent": parent},
                    name=f"lane-{lane}",
                    daemon=True,
                )
                worker.start()
                self.workers.append(worker)
        return self

    def put(self, key: str, item: Any) -> None:
        if self.stop_requested():
            self.stop()
            return
        lane = lane_of(key, self.jobs) if self.jobs > 1 else 0
        self.pending[lane].append(item)
        if len(self.pending[lane]) >= self.chunk:
            self._send(lane)

    def stop(self) -> None:
        """Finish the chunks being worked on; drop the rest."""
        self.stopped = True
        self.pending = [[] for _ in range(self.jobs)]
        if self.jobs > 1:
            self.stop_event.set()

    def results(self) -> Iterator[Outcome]:
        """Outcomes that have come back since the last call, without waiting."""
        if self.jobs > 1:
            self._collect(block=False)
        done, self.done = self.done, []
        yield from done

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.stop()
        for lane in range(self.jobs):
            if self.pending[lane]:
                self._send(lane)
        if self.jobs == 1:
            return
        if exc_type is not None:
            # Aborted (a second Ctrl-C, an error in the parent): nobody will wait for the lanes'
            # chunks, so end them now; their open transactions roll back.
            for worker in self.workers:
                worker.kill()
        for lane in range(self.jobs):
            self._put_waiting(lane, None)
            self.inboxes[lane].cancel_join_thread()  # unread chunks must not block the exit
        alive = list(self.workers)
        while alive:
            self._stopping()
            self._collect(block=True)
            alive = [w for w in alive if w.is_alive()]
        self._collect(block=False)
        for worker in self.workers:
            worker.join()
            if worker.exitcode != 0 and exc_type is None:
                message = f"{worker.name} exited with {worker.exitcode}: its unfinished "
                message += "events are left for the next run"
                self.done.append(Outcome("failed", worker.name, message))

    def _send(self, lane: int) -> None:
        chunk, self.pending[lane] = self.pending[lane], []
        if self.stopped:
            return
        if self.jobs == 1:
            self.done.extend(self.work(chunk, self._stopping))
        else:
            self._put_waiting(lane, chunk)

    def _stopping(self) -> bool:
        if not self.stopped and self.stop_requested():
            self.stop()
        return self.stopped

    def _put_waiting(self, lane: int, chunk: list[Any] | None) -> None:
        """Put, collecting results while the lane is busy (so the parent never deadlocks).

        A chunk for a lane that has died is dropped: its events are left for the next run,
        and the lane's exit code is reported when the lanes are joined.
        """
        while self.workers[lane].is_alive():
            try:
                self.inboxes[lane].put(chunk, timeout=_POLL)
                return
            except queue.Full:
                self._stopping()
                self._collect(block=False)

    def _collect(self, block: bool) -> None:
        try:
            batch = self.results_queue.get(timeout=_POLL) if block else None
            while True:
                if batch is not None:
                    self.done.extend(batch)
                batch = self.results_queue.get_nowait()
        except queue.Empty:
            pass


_inherited: list[Any] = []  # the parent's sockets, forked: never used, never closed here


def _drop_inherited_connections() -> None:
    """Start the lane without any database connection that came across the fork.

    The parent closes its connections before forking, but one can still come across (seen
    under Playwright's greenlets in the test suite, where the lane saw a connection the
    parent's code did not). Using it would interleave two processes on one socket; closing it
    would end the parent's session. So keep it referenced, unused, and connect afresh.
    """
    for alias in connections:
        wrapper = connections[alias]
        if wrapper.connection is not None:
            _inherited.append(wrapper.connection)
            wrapper.connection = None


def _lane_main(work: Work, inbox: Any, results: Any, stop_event: Any, *, parent: int) -> None:
    # The parent decides when to stop; a Ctrl-C at the terminal reaches the whole group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _drop_inherited_connections()
    try:
        while True:
            try:
                chunk = inbox.get(timeout=_POLL)
            except queue.Empty:
                if os.getppid() != parent or stop_event.is_set():
                    return  # stopped, or the command died: nobody will read what we do
                continue
            if chunk is None or stop_event.is_set():
                return
            results.put(work(chunk, stop_event.is_set))
    finally:
        connections.close_all()
