import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from bootwebhooks.inbox import stripe_api
from bootwebhooks.inbox.dispatch import dispatch, is_lock_conflict
from bootwebhooks.inbox.exceptions import InvalidPayload
from bootwebhooks.inbox.fields import printable
from bootwebhooks.inbox.ingest import ingest_batch, parse_event
from bootwebhooks.inbox.management.lanes import (
    Lanes,
    Outcome,
    add_jobs_argument,
    customer_key,
    usable_jobs,
)
from bootwebhooks.inbox.management.runner import ItemCommand, date_argument
from bootwebhooks.inbox.models import Attempt, Checkpoint, WebhookEvent
from bootwebhooks.inbox.timeouts import bound_transaction

RETENTION = timedelta(days=30)  # Stripe's Events API keeps 30 days
MAX_TYPES = 20  # Stripe's limit for types[]
CHUNK = 100  # events dispatched per transaction


class Command(ItemCommand):
    help = (
        "Fetch events from Stripe's Events API and process those we lack, oldest first, through "
        "the webhook's record-and-dispatch path. Interrupted runs resume where they stopped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, type=date_argument, help="YYYY-MM-DD[THH:MM]")
        parser.add_argument("--until", type=date_argument, help="YYYY-MM-DD[THH:MM] (default: now)")
        parser.add_argument(
            "--type", action="append", default=[], dest="types", help="repeatable; * wildcard"
        )
        parser.add_argument("--dry-run", action="store_true", help="list, store nothing")
        parser.add_argument("--retry-failed", action="store_true", help="also re-run failed ones")
        add_jobs_argument(parser)
        super().add_arguments(parser)

    def handle(self, since, until, types, dry_run, retry_failed, jobs, quiet, **options) -> None:
        self.check_window(since, until, types)
        jobs, why = usable_jobs(jobs)
        if why:
            self.stderr.write(why)
        try:
            client = stripe_api.client()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        checkpoint = self.checkpoint(since, until, types, dry_run)
        until = until or datetime.fromisoformat(checkpoint.state["until"])
        progress = self.progress(quiet=quiet)
        try:
            self.fetch(client, checkpoint, since, until, types, dry_run, progress)
            if not dry_run and not self.stop_requested:
                self.process(since, until, types, retry_failed, jobs, progress)
        finally:
            progress.finish()
        if not dry_run and not self.stop_requested:
            checkpoint.delete()
        self.summarise("backfill")

    def check_window(self, since, until, types) -> None:
        if since < timezone.now() - RETENTION:
            raise CommandError(
                f"--since {since:%Y-%m-%d} is older than the 30 days Stripe keeps events; "
                "repair older gaps with reconcile_memberships"
            )
        if until and until <= since:
            raise CommandError("--until must be after --since")
        if len(types) > MAX_TYPES:
            raise CommandError(f"at most {MAX_TYPES} --type values (Stripe's limit)")

    def checkpoint(self, since, until, types, dry_run: bool) -> Checkpoint:
        """One per window: a run without --until keeps the `until` of the run it resumes."""
        name = f"backfill {since.isoformat()} {until.isoformat() if until else 'now'} {types}"
        default = {"until": (until or timezone.now()).isoformat(), "after": None, "done": False}
        if dry_run:
            found = Checkpoint.objects.filter(name=name).first()
            return found or Checkpoint(name=name, state=default)
        checkpoint, _ = Checkpoint.objects.get_or_create(name=name, defaults={"state": default})
        return checkpoint

    def fetch(self, client, checkpoint, since, until, types, dry_run, progress) -> None:
        """Phase 1: page through Stripe (newest first) and store what we lack as pending."""
        if checkpoint.state["done"]:
            return
        params: dict = {"created": {"gte": int(since.timestamp()), "lte": int(until.timestamp())}}
        params["limit"] = 100
        if types:
            params["types"] = types
        after = checkpoint.state["after"]
        while not self.stop_requested:
            cursor = {"starting_after": after} if after else {}
            page = client.v1.events.list(params={**params, **cursor})
            self.store_page(page.data, dry_run)
            progress.advance(len(page.data))
            if not page.data or not page.has_more:
                checkpoint.state["done"] = True
            else:
                after = checkpoint.state["after"] = page.data[-1].id
            if not dry_run:
                checkpoint.save()
            if checkpoint.state["done"]:
                return

    def store_page(self, events, dry_run: bool) -> None:
        """Store the page's new events as pending, with one query and one commit."""
        ids = [event.id for event in events]
        stored = set(
            WebhookEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", flat=True)
        )
        batch = []
        for event in events:
            if event.id in stored:
                self.tally("already stored")
            elif dry_run:
                self.stdout.write(f"would store {printable(event.id)} {printable(event.type)}")
                self.tally("would store")
            else:
                try:
                    batch.append(parse_event(json.dumps(event.to_dict())))
                except InvalidPayload as exc:
                    self.stderr.write(f"{printable(event.id)}: {exc}; skipped")
                    self.tally("failed", printable(event.id))
        if batch:
            with transaction.atomic():
                ingest_batch(batch, source=WebhookEvent.Source.BACKFILL, process=False)

    def process(self, since, until, types, retry_failed: bool, jobs: int, progress) -> None:
        """Phase 2: dispatch what phase 1 stored, in (created, id) order per customer."""
        waiting = WebhookEvent.objects.filter(
            stripe_created__gte=since, stripe_created__lte=until
        ).filter(_statuses(retry_failed))
        if types:
            waiting = waiting.filter(_types(types))
        with Lanes(dispatch_chunk, jobs=jobs, chunk=CHUNK, stop_requested=self.stopping) as lanes:
            for row in _in_order(waiting):
                if self.stop_requested:
                    break
                pk, stripe_id, *routing = row
                lanes.put(customer_key(*routing, stripe_id), (pk, stripe_id))
                self.count(lanes.results(), progress)
        self.count(lanes.results(), progress)


def dispatch_chunk(chunk: list[tuple[int, str]], stopping: Callable[[], bool]) -> list[Outcome]:
    """Dispatch a lane's chunk of stored events in one transaction (one commit per chunk).

    Each event runs in its own savepoint (dispatch's), so one that fails is recorded as failed
    and the rest go on. A stop leaves the events not reached pending, for the next run."""
    outcomes = []
    try:
        with transaction.atomic():
            bound_transaction()
            for pk, stripe_id in chunk:
                if stopping():
                    break
                try:
                    event = _dispatch_once_more_on_lock_conflict(pk)
                except Exception as exc:  # one bad item must not end the run
                    outcomes.append(Outcome("failed", stripe_id, f"{stripe_id}: {exc!r}"))
                    continue
                outcomes.append(Outcome(event.status, stripe_id))
            if transaction.get_rollback():  # a savepoint could not be rolled back
                raise DatabaseError("the chunk's transaction broke")
    except Exception as exc:  # the commit failed: the whole chunk is still pending
        return [
            Outcome("failed", stripe_id, f"{stripe_id}: not committed: {exc!r}")
            for _, stripe_id in chunk
        ]
    return outcomes


def _dispatch_once_more_on_lock_conflict(pk: int) -> WebhookEvent:
    """A lock cycle with another lane rolled this event's savepoint back (its locks went with
    it): run it again once; a second conflict leaves it pending for the next run."""
    try:
        return dispatch(pk, trigger=Attempt.Trigger.COMMAND)
    except Exception as exc:
        if not is_lock_conflict(exc):
            raise
    return dispatch(pk, trigger=Attempt.Trigger.COMMAND)


def _in_order(waiting: QuerySet, page: int = 1000) -> Iterator[tuple]:
    """(pk, stripe_id, customer_id, customer_email, object_id) by (created, id), a page at a
    time by keyset: statuses change under our feet as lanes work, so no offsets."""
    fields = ("pk", "stripe_id", "customer_id", "customer_email", "object_id", "stripe_created")
    after = Q()
    while True:
        rows = list(
            waiting.filter(after)
            .order_by("stripe_created", "stripe_id")
            .values_list(*fields)[:page]
        )
        for row in rows:
            yield row[:-1]
        if len(rows) < page:
            return
        created, stripe_id = rows[-1][-1], rows[-1][1]
        after = Q(stripe_created__gt=created) | Q(stripe_created=created, stripe_id__gt=stripe_id)


def _statuses(retry_failed: bool) -> Q:
    pending = Q(status=WebhookEvent.Status.PENDING, source=WebhookEvent.Source.BACKFILL)
    return pending | Q(status=WebhookEvent.Status.FAILED) if retry_failed else pending


def _types(types: list[str]) -> Q:
    query = Q()
    for pattern in types:
        if pattern.endswith("*"):
            query |= Q(type__startswith=pattern[:-1])
        else:
            query |= Q(type=pattern)
    return query
