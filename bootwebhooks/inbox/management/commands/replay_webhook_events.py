from django.core.management.base import CommandError

from bootwebhooks.inbox.dispatch import dispatch, preview
from bootwebhooks.inbox.fields import printable
from bootwebhooks.inbox.management.runner import ItemCommand, date_argument
from bootwebhooks.inbox.models import Attempt, WebhookEvent

DEFAULT_STATUSES = [WebhookEvent.Status.FAILED, WebhookEvent.Status.PENDING]


class Command(ItemCommand):
    help = (
        "Run stored events again through the same dispatch as a webhook (same row lock, so it "
        "is safe while webhooks arrive). Selects failed and pending events unless told otherwise."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("ids", nargs="*", metavar="EVT_ID", help="events to replay")
        parser.add_argument(
            "--status",
            action="append",
            dest="statuses",
            choices=WebhookEvent.Status.values,
            help="repeatable (default: failed and pending)",
        )
        parser.add_argument("--type", action="append", dest="types", default=[])
        parser.add_argument(
            "--since", type=date_argument, help="Stripe's created, YYYY-MM-DD[THH:MM]"
        )
        parser.add_argument("--until", type=date_argument)
        parser.add_argument(
            "--dry-run", action="store_true", help="show what each would change, change nothing"
        )
        super().add_arguments(parser)

    def handle(self, ids, statuses, types, since, until, dry_run, quiet, **options) -> None:
        selected = self.select(ids, statuses, types, since, until)
        total = selected.count()
        progress = self.progress(total, quiet=quiet)
        rows = selected.order_by("stripe_created", "stripe_id")
        try:
            for pk, stripe_id, status in rows.values_list("pk", "stripe_id", "status").iterator():
                if self.stop_requested:
                    break
                self.replay_one(pk, stripe_id, status in WebhookEvent.FINAL, dry_run)
                progress.advance()
        finally:
            progress.finish()
        self.summarise("dry run" if dry_run else "replayed")

    def select(self, ids, statuses, types, since, until):
        events = WebhookEvent.objects.all()
        if ids:
            events = events.filter(stripe_id__in=ids)
            missing = set(ids) - set(events.values_list("stripe_id", flat=True))
            if missing:
                shown = " ".join(printable(i) for i in sorted(missing))
                raise CommandError(f"unknown event id(s): {shown}")
        if statuses or not ids:
            events = events.filter(status__in=statuses or DEFAULT_STATUSES)
        if types:
            events = events.filter(type__in=types)
        if since:
            events = events.filter(stripe_created__gte=since)
        if until:
            events = events.filter(stripe_created__lte=until)
        return events

    def replay_one(self, pk: int, stripe_id: str, was_final: bool, dry_run: bool) -> None:
        """Re-run one event. Only an event selected as final is forced: a failed one that a
        Stripe redelivery processes meanwhile is then found final and not run twice."""
        try:
            if dry_run:
                self.stdout.write(f"{printable(stripe_id)}: {preview(pk).describe()}")
                self.tally("previewed")
                return
            event = dispatch(pk, trigger=Attempt.Trigger.COMMAND, force=was_final)
        except Exception as exc:  # one bad item must not end the run
            self.stderr.write(f"{printable(stripe_id)}: {exc!r}")
            self.tally("failed", stripe_id)
            return
        self.tally(event.status, stripe_id)
