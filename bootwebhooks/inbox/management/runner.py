"""What every long-running inbox command shares: progress, a clean stop, an honest summary.

A command subclasses `ItemCommand`, loops over its items calling `self.tally(...)`, and checks
`self.stop_requested` between items. Ctrl-C or SIGTERM sets that flag instead of killing the
process mid-item, so whatever is done is committed and the next run picks up from there.
"""

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from django.core.management.base import BaseCommand, CommandError

from bootwebhooks.inbox.management.lanes import Outcome


class Progress:
    """`processed 1,200 of 5,000 (240/s, ETA 16s)` on one rewritten line; silent off a tty."""

    def __init__(self, stream: TextIO, total: int | None = None, enabled: bool = True) -> None:
        self.stream, self.total = stream, total
        self.enabled = enabled and stream.isatty()
        self.started = self.last = time.monotonic()
        self.done = 0

    def advance(self, n: int = 1, fraction: float | None = None) -> None:
        """Count `n` items; `fraction` (0..1) overrides total for the ETA (bytes of a file)."""
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.2:
            self.last = now
            self.stream.write("\r" + self.line(now, fraction) + "\033[K")
            self.stream.flush()

    def line(self, now: float, fraction: float | None = None) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if fraction is None and self.total:
            fraction = self.done / self.total
        text = f"{self.done:,}" + (f" of {self.total:,}" if self.total else "")
        text += f" ({rate:,.0f}/s"
        if fraction and fraction > 0:
            text += f", ETA {elapsed / fraction - elapsed:,.0f}s"
        return text + ")"

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


class ItemCommand(BaseCommand):
    """A command that works through items one at a time and can be stopped between them."""

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quiet", action="store_true", help="no progress line")

    def execute(self, *args, **options):
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.stop_requested = False
        # Signal handlers can only be set from the main thread (not, say, a test's worker thread).
        in_main = threading.current_thread() is threading.main_thread()
        stops = _STOP_SIGNALS if in_main else ()
        previous = {sig: signal.signal(sig, self._request_stop) for sig in stops}
        try:
            return super().execute(*args, **options)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _request_stop(self, signum, frame) -> None:
        if self.stop_requested:  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self.stop_requested = True
        sys.stderr.write("\nstopping after the current item (again to abort)\n")

    def stopping(self) -> bool:
        return self.stop_requested

    def progress(self, total: int | None = None, quiet: bool = False) -> Progress:
        return Progress(self.stderr._out, total, enabled=not quiet)

    def tally(self, outcome: str, item_id: str = "") -> None:
        """Count one item: `processed`, `skipped`, `failed`, or anything else worth counting."""
        self.counts[outcome] += 1
        if outcome == "failed":
            self.failures.append(item_id)

    def count(
        self, outcomes: Iterable[Outcome], progress: Progress, fraction: float | None = None
    ) -> None:
        """Tally what the lanes report (bootwebhooks.inbox.management.lanes), printing their
        messages, and move the progress line on."""
        n = 0
        for outcome in outcomes:
            if outcome.message:
                self.stderr.write(outcome.message)
            self.tally(outcome.outcome, outcome.item_id)
            n += 1
        progress.advance(n, fraction)

    def summarise(self, verb: str = "done") -> None:
        """Print the counts; exit non-zero if anything failed or the run was stopped early."""
        counts = ", ".join(f"{n:,} {what}" for what, n in sorted(self.counts.items()))
        self.stdout.write(f"{verb}: {counts or 'nothing to do'}")
        if self.stop_requested:
            raise CommandError("stopped before the end: run the same command again to resume")
        if self.failures:
            shown = " ".join(self.failures[:20]) + (" ..." if len(self.failures) > 20 else "")
            raise CommandError(f"{len(self.failures)} failed: {shown}")


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def date_argument(value: str) -> datetime:
    """argparse type for `YYYY-MM-DD[THH:MM[:SS]]`, UTC unless an offset is given."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
