import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import BinaryIO

import ijson
from django.core.management.base import CommandError
from django.db import transaction

from bootwebhooks.inbox.dispatch import is_lock_conflict
from bootwebhooks.inbox.exceptions import InvalidPayload
from bootwebhooks.inbox.ingest import ParsedEvent, ingest_batch, parse_event
from bootwebhooks.inbox.management.lanes import (
    Lanes,
    Outcome,
    add_jobs_argument,
    customer_key,
    usable_jobs,
)
from bootwebhooks.inbox.management.runner import ItemCommand
from bootwebhooks.inbox.models import WebhookEvent

_PEEK = 1 << 16


class Command(ItemCommand):
    help = (
        "Import Stripe events from FILE (or - for stdin): one JSON event per line, or a Stripe "
        'list object {"object": "list", "data": [...]}. Events already stored are left alone.'
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path of the file, or - for standard input")
        parser.add_argument(
            "--retry-failed", action="store_true", help="process stored failed events again"
        )
        parser.add_argument(
            "--batch-size", type=int, default=200, help="events per transaction (default 200)"
        )
        add_jobs_argument(parser)
        super().add_arguments(parser)

    def handle(self, file, retry_failed, batch_size, jobs, quiet, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        jobs, why = usable_jobs(jobs)
        if why:
            self.stderr.write(why)
        stream = self.open(file)
        size = _size(stream)
        progress = self.progress(quiet=quiet)
        work = partial(import_chunk, retry_failed=retry_failed)
        try:
            with Lanes(work, jobs=jobs, chunk=batch_size, stop_requested=self.stopping) as lanes:
                for where, parsed in self.parsed(read_events(stream)):
                    if self.stop_requested:
                        break
                    key = customer_key(
                        parsed.customer_id, parsed.customer_email, parsed.object_id, parsed.id
                    )
                    lanes.put(key, (where, parsed))
                    self.count(lanes.results(), progress, stream.tell() / size if size else None)
            self.count(lanes.results(), progress)
        finally:
            progress.finish()
            stream.close()
        self.summarise("imported")

    def open(self, file: str) -> BinaryIO:
        if file == "-":
            return io.BufferedReader(sys.stdin.buffer.raw, _PEEK)
        try:
            return open(file, "rb", buffering=_PEEK)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None

    def parsed(self, events: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, ParsedEvent]]:
        """The events that parse; the others are reported by line and counted failed."""
        where = "the start"
        try:
            for where, body in events:
                try:
                    yield where, parse_event(body)
                except InvalidPayload as exc:
                    self.stderr.write(f"{where}: {exc}; skipped")
                    self.tally("failed", where)
        except ijson.JSONError as exc:  # a broken list object: nothing after this is readable
            self.stderr.write(f"the list object breaks after {where}: {exc}")
            self.tally("failed", "rest of file")


def import_chunk(
    chunk: list[tuple[str, ParsedEvent]], stopping: Callable[[], bool], *, retry_failed: bool
) -> list[Outcome]:
    """Up to `--batch-size` events of one lane in one transaction: one commit (one fsync) per
    chunk rather than per event, and one query to store the new ones. A crash loses at most
    the open chunk, which the next run imports again. A lock cycle with another lane (events
    that name no customer, such as disputes, go by their own object and can meet the
    customer's lane on the same payment) rolls the chunk back; it is tried once more."""
    events = [parsed for _, parsed in chunk]
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                receipts = ingest_batch(
                    events, source=WebhookEvent.Source.IMPORT, retry_failed=retry_failed
                )
            break
        except Exception as exc:  # the chunk rolled back whole; the next run retries it
            if attempt == 1 and is_lock_conflict(exc):
                continue
            return [
                Outcome("failed", parsed.id, f"{where} ({parsed.id}): not imported: {exc!r}")
                for where, parsed in chunk
            ]
    outcomes = []
    for parsed, receipt in zip(events, receipts, strict=True):
        if receipt is None:
            outcomes.append(Outcome("skipped"))
        elif receipt.status == WebhookEvent.Status.FAILED:
            outcomes.append(Outcome("failed", parsed.id))
        else:
            outcomes.append(Outcome(receipt.status, parsed.id))
    return outcomes


def read_events(stream: io.BufferedReader) -> Iterator[tuple[str, bytes]]:
    """(`line N` or `item N`, raw event JSON), streaming with constant memory.

    A file whose first non-blank line is a lone `{` is a pretty-printed Stripe list object,
    read item by item with ijson (a JSON-lines event never fits on such a line). A first line
    that is a whole list object is read as one. Anything else is JSON lines.
    """
    head = stream.peek(_PEEK)[:_PEEK]
    first_line = next((line for line in head.splitlines() if line.strip()), b"")
    if first_line.strip() == b"{":
        items = ijson.items(stream, "data.item", use_float=True)
        for number, item in enumerate(items, start=1):
            yield f"item {number}", json.dumps(item).encode()
        return
    first = _load(first_line)
    one_line_list = isinstance(first, dict) and first.get("object") == "list"
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if one_line_list:
            one_line_list = False
            for index, item in enumerate(first.get("data") or [], start=1):
                yield f"item {index}", json.dumps(item).encode()
            continue
        yield f"line {number}", line


def _load(line: bytes) -> object | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _size(stream: BinaryIO) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return 0
