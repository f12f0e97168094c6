import io
import json
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

import ijson
from django.core.management.base import CommandError
from django.db import transaction

from bootwebhooks.inbox.exceptions import InvalidPayload
from bootwebhooks.inbox.ingest import ingest_missing, parse_event
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
        super().add_arguments(parser)

    def handle(self, file, retry_failed, batch_size, quiet, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        stream = self.open(file)
        size = _size(stream)
        progress = self.progress(quiet=quiet)
        events = read_events(stream)
        try:
            while not self.stop_requested and self.import_batch(events, batch_size, retry_failed):
                done = sum(self.counts.values())
                progress.advance(done - progress.done, stream.tell() / size if size else None)
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

    def import_batch(self, events: Iterator, size: int, retry_failed: bool) -> bool:
        """Up to `size` events in one transaction: one commit (one fsync) per batch rather than
        per event, and one query to store the new ones. A crash loses at most the open batch,
        which the next run imports again. False once the file is done."""
        batch, more = [], True
        try:
            for where, body in events:
                try:
                    batch.append((where, parse_event(body)))
                except InvalidPayload as exc:
                    self.stderr.write(f"{where}: {exc}; skipped")
                    self.tally("failed", where)
                if len(batch) == size or self.stop_requested:
                    break
            else:
                more = False
        except ijson.JSONError as exc:  # a broken list object: nothing after this is readable
            self.stderr.write(f"the list object breaks after {len(batch)} more items: {exc}")
            self.tally("failed", "rest of file")
            more = False
        if not batch:
            return more
        try:
            with transaction.atomic():
                receipts = ingest_missing(
                    [parsed for _, parsed in batch],
                    source=WebhookEvent.Source.IMPORT,
                    retry_failed=retry_failed,
                )
        except Exception as exc:  # the batch rolled back whole; the next run retries it
            for where, parsed in batch:
                self.stderr.write(f"{where} ({parsed.id}): not imported: {exc!r}")
                self.tally("failed", parsed.id)
            return more
        for (_, parsed), receipt in zip(batch, receipts, strict=True):
            if receipt is None:
                self.tally("skipped")
            elif receipt.status == WebhookEvent.Status.FAILED:
                self.tally("failed", parsed.id)
            else:
                self.tally(receipt.status)
        return more


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
