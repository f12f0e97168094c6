import io
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, BinaryIO

import ijson
from django.core.management.base import CommandError
from django.db import transaction

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.dispatch import is_lock_conflict
from bootwebhooks.inbox.exceptions import InvalidPayload
from bootwebhooks.inbox.ingest import MAX_DEPTH, ParsedEvent, Receipt, ingest_batch, parse_event
from bootwebhooks.inbox.management.lanes import (
    Lanes,
    Outcome,
    add_jobs_argument,
    customer_key,
    usable_jobs,
)
from bootwebhooks.inbox.management.runner import ItemCommand
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.timeouts import bound_transaction

_PEEK = 1 << 16
MAX_LINE = 16 << 20  # bytes in one line of a list object (JSON lines: an event's own cap)


class Skipped(str):
    """Why the item at this place could not be read (it is reported, the run goes on)."""


class LineTooLong(ValueError):
    """A line of a list object is over the cap: the object cannot be read past it."""


# What the JSON parser raises on a broken list object: its own errors, LineTooLong, and a
# UnicodeDecodeError for a lone surrogate escape (yajl's C backend).
_UNREADABLE = (ijson.JSONError, ValueError)


class Command(ItemCommand):
    help = (
        "Import Stripe events from FILE (or - for stdin): one JSON event per line, or a Stripe "
        'list object {"object": "list", "data": [...]}. Events already stored are left alone. '
        "An event may be as large as the webhook takes (WEBHOOK_MAX_BODY_BYTES) and nested "
        f"{MAX_DEPTH} levels deep; a list object's lines {MAX_LINE >> 20} MiB long."
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
                items = read_events(
                    stream, max_item=app_settings.WEBHOOK_MAX_BODY_BYTES, max_line=MAX_LINE
                )
                for where, parsed in self.parsed(items):
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

    def parsed(
        self, events: Iterator[tuple[str, bytes | Skipped]]
    ) -> Iterator[tuple[str, ParsedEvent]]:
        """The events that parse; the others are reported by place and counted failed."""
        where = "the start"
        try:
            for where, body in events:
                try:
                    if isinstance(body, Skipped):
                        raise InvalidPayload(body)
                    yield where, parse_event(body)
                except InvalidPayload as exc:
                    self.stderr.write(f"{where}: {exc}; skipped")
                    self.tally("failed", where)
        except _UNREADABLE as exc:  # nothing after this is readable
            self.stderr.write(f"the list object breaks after {where}: {_one_line(exc)}")
            self.tally("failed", "rest of file")


def import_chunk(
    chunk: list[tuple[str, ParsedEvent]], stopping: Callable[[], bool], **options: bool
) -> list[Outcome]:
    """Up to `--batch-size` events of one lane in one transaction: one commit (one fsync) per
    chunk rather than per event, and one query to store the new ones. A crash loses at most
    the open chunk, which the next run imports again.

    If the chunk fails anyway (a database error no event's savepoint caught), it is imported
    again an event per transaction, so the good ones land and the bad one is reported alone.
    """
    try:
        receipts = _ingest([parsed for _, parsed in chunk], **options)
    except Exception as exc:
        if len(chunk) > 1:  # one bad event must not keep the others out
            return [out for item in chunk for out in import_chunk([item], stopping, **options)]
        where, parsed = chunk[0]
        return [Outcome("failed", parsed.id, f"{where} ({parsed.id}): not imported: {exc!r}")]
    return [_outcome(where, parsed, r) for (where, parsed), r in zip(chunk, receipts, strict=True)]


def _ingest(events: list[ParsedEvent], *, retry_failed: bool) -> list[Receipt | None]:
    """One bounded transaction (inbox.timeouts). A lock cycle with another lane (events that
    name no customer, such as disputes, go by their own object and can meet the customer's
    lane on the same payment) rolls it back; it is tried once more."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                bound_transaction()
                return ingest_batch(
                    events, source=WebhookEvent.Source.IMPORT, retry_failed=retry_failed
                )
        except Exception as exc:
            if attempt == 2 or not is_lock_conflict(exc):
                raise
    raise AssertionError("unreachable")


def _outcome(where: str, parsed: ParsedEvent, receipt: Receipt | None) -> Outcome:
    if receipt is None:
        return Outcome("skipped")
    if receipt.status == WebhookEvent.Status.FAILED:
        return Outcome("failed", parsed.id, f"{where} ({parsed.id}): failed, see its attempt")
    return Outcome(receipt.status, parsed.id)


def read_events(
    stream: io.BufferedReader, *, max_item: int, max_line: int
) -> Iterator[tuple[str, bytes | Skipped]]:
    """(`line N`, `item N` or `line N item M`, raw event JSON or why it was skipped), in
    bounded memory, whatever the file holds.

    A file whose first non-blank line is a lone `{` is a pretty-printed Stripe list object,
    streamed item by item (ijson); its lines are capped at `max_line` bytes, since a JSON
    parser holds a whole string. Anything else is JSON lines: each line an event of at most
    `max_item` bytes (longer ones are skipped unread), or a one-line list object, streamed the
    same way. No item larger than `max_item` or nested deeper than ingest.MAX_DEPTH is built.
    """
    head = stream.peek(_PEEK)[:_PEEK]
    first_line = next((line for line in head.splitlines() if line.strip()), b"")
    if first_line.strip() == b"{":
        yield from _rereadable(stream, partial(_Capped, stream, max_line, one_line=False), max_item)
    else:
        yield from _json_lines(stream, max_item, max_line)


_LIST_START = re.compile(rb'\s*\{\s*"object"\s*:\s*"list"')
_OPEN, _CLOSE = {"start_map", "start_array"}, {"end_map", "end_array"}


def _json_lines(
    stream: io.BufferedReader, max_item: int, max_line: int
) -> Iterator[tuple[str, bytes | Skipped]]:
    number = 0
    while stream.peek(1):
        number += 1
        if _LIST_START.match(stream.peek(_PEEK)[:_PEEK]):
            yield from _list_line(stream, number, max_item, max_line)
            continue
        line = stream.readline(max_item + 1)
        if len(line) > max_item and not line.endswith(b"\n"):
            _Capped(stream, limit=None, one_line=True).skip_rest()
            yield f"line {number}", Skipped(f"longer than {max_item:,} bytes")
        elif line.strip():
            yield f"line {number}", line


def _list_line(
    stream: io.BufferedReader, number: int, max_item: int, max_line: int
) -> Iterator[tuple[str, bytes | Skipped]]:
    """A list object on one line: its items, or why it broke (the next line is read anyway)."""
    lines: list[_Capped] = []

    def line() -> _Capped:
        lines.append(_Capped(stream, max_line, one_line=True))
        return lines[-1]

    try:
        for where, item in _rereadable(stream, line, max_item):
            yield f"line {number} {where}", item
    except _UNREADABLE as exc:
        yield f"line {number}", Skipped(f"the list object breaks: {_one_line(exc)}")
    lines[-1].skip_rest()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())  # the JSON parser's messages span several lines


def _rereadable(
    stream: io.BufferedReader, reader: Callable[[], "_Capped"], max_item: int
) -> Iterator[tuple[str, bytes | Skipped]]:
    """The items of the list object `reader()` reads, parsed by yajl (ijson's C backend). yajl
    refuses some valid JSON (a lone surrogate escape, an integer past 64 bits): then the object
    is read again with ijson's Python parser (slower, decoding as the json module does), from
    the item where yajl stopped; what that refuses too is broken. A pipe cannot be read twice:
    its list objects go to the Python parser from the start."""
    if not stream.seekable():
        yield from _list_items(reader(), max_item, _PYTHON_PARSE)
        return
    start = stream.tell()
    done = 0
    try:
        for item in _list_items(reader(), max_item, ijson.basic_parse):
            yield item
            done += 1
    except _UNREADABLE:
        stream.seek(start)
        for item in itertools.islice(_list_items(reader(), max_item, _PYTHON_PARSE), done, None):
            yield item


_PYTHON_PARSE = ijson.get_backend("python").basic_parse


def _list_items(
    stream: "_Capped", max_item: int, parse: Callable = ijson.basic_parse
) -> Iterator[tuple[str, bytes | Skipped]]:
    """The items of the top-level `data` array; whatever else the object holds is passed."""
    events = parse(stream, use_float=True)
    depth, key, found = 0, None, False
    for event, value in events:
        if depth == 1 and event == "map_key":
            key = value
            continue
        if depth == 1 and key == "data":
            key, found = None, True
            if event == "start_array":
                yield from _array_items(events, max_item)
                continue
            yield "data", Skipped('"data" is not a list of events')
        if event in _OPEN:
            depth += 1
        elif event in _CLOSE:
            depth -= 1
    if not found:
        yield "list object", Skipped('it has no "data" list')


def _array_items(events: Iterator, max_item: int) -> Iterator[tuple[str, bytes | Skipped]]:
    for number, (event, value) in enumerate(events, start=1):
        if event == "end_array":
            return
        yield f"item {number}", _item(event, value, events, max_item)


def _item(event: str, value: Any, events: Iterator, max_item: int) -> bytes | Skipped:
    """One item rebuilt from its parse events, unless it grows past the caps (then the rest
    of its events are read and dropped)."""
    builder: ijson.ObjectBuilder | None = ijson.ObjectBuilder()
    depth = size = 0
    problem = ""
    while True:
        depth += (event in _OPEN) - (event in _CLOSE)
        size += 8 + (len(value) if isinstance(value, str) else 0)  # about its JSON's size
        if builder is not None:
            if depth > MAX_DEPTH:
                problem = f"nested deeper than {MAX_DEPTH} levels"
            elif size > max_item:
                problem = f"larger than {max_item:,} bytes"
            if problem:
                builder = None
            else:
                builder.event(event, value)
        if depth == 0:
            break
        event, value = next(events, (None, None))
        if event is None:
            raise ijson.IncompleteJSONError("the file ends inside an item")
    if builder is None:
        return Skipped(problem)
    return json.dumps(builder.value).encode()


class _Capped:
    """A binary stream for ijson that refuses a line longer than `limit` bytes, so memory stays
    bounded even where a JSON parser must hold a whole string; `one_line` ends it at the end
    of the current line."""

    def __init__(self, stream: io.BufferedReader, limit: int | None, *, one_line: bool) -> None:
        self.stream, self.limit, self.one_line = stream, limit, one_line
        self.line, self.run = 1, 0  # bytes since the last newline
        self.done = False

    def read(self, size: int = -1) -> bytes:
        if self.done or size == 0:
            return b""
        size = _PEEK if size < 0 else min(size, _PEEK)
        data = self.stream.readline(size) if self.one_line else self.stream.read(size)
        self.done = not data or (self.one_line and data.endswith(b"\n"))
        first, *rest = data.split(b"\n")
        longest = self.run = self.run + len(first)
        if rest:
            self.run = len(rest[-1])
            longest = max(longest, *(len(line) for line in rest))
            self.line += len(rest)
        if self.limit is not None and longest > self.limit:
            line = "it" if self.one_line else f"line {self.line}"
            raise LineTooLong(f"{line} is longer than {self.limit:,} bytes")
        return data

    def skip_rest(self) -> None:
        while not self.done:
            self.read(_PEEK)

    def tell(self) -> int:
        return self.stream.tell()


def _size(stream: BinaryIO) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return 0
