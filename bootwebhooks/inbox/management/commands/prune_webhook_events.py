import re
from datetime import timedelta

from django.core.management.base import CommandError
from django.db.models import Q, QuerySet
from django.utils import timezone

from bootwebhooks.inbox.management.runner import ItemCommand
from bootwebhooks.inbox.models import WebhookEvent

_AGE = re.compile(r"^(\d+)([dh])$")


class Command(ItemCommand):
    help = (
        "Delete old events in batches. Failed events are kept unless --include-failed; pending "
        "ones always; so is any event that a payment or membership change still points to."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 90d or 36h")
        parser.add_argument("--include-failed", action="store_true")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        super().add_arguments(parser)

    def handle(self, older_than, include_failed, batch_size, dry_run, quiet, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        prunable = self.prunable(timezone.now() - _age(older_than), include_failed)
        if dry_run:
            self.stdout.write(f"would delete {prunable.count():,} events")
            return
        progress = self.progress(prunable.count(), quiet=quiet)
        try:
            while not self.stop_requested:
                batch = list(prunable.order_by("pk").values_list("pk", flat=True)[:batch_size])
                if not batch:
                    break
                # Re-apply the filter at delete time: a webhook may have changed a row since.
                deleted = prunable.filter(pk__in=batch).delete()[1].get(WebhookEvent._meta.label, 0)
                self.counts["deleted"] += deleted
                progress.advance(deleted)
        finally:
            progress.finish()
        self.summarise("pruned")

    def prunable(self, cutoff, include_failed: bool) -> QuerySet[WebhookEvent]:
        kept = [WebhookEvent.Status.PENDING]
        if not include_failed:
            kept.append(WebhookEvent.Status.FAILED)
        events = WebhookEvent.objects.filter(received_at__lt=cutoff).exclude(status__in=kept)
        return events.filter(_unreferenced())


def _unreferenced() -> Q:
    """No row of another app (payment, membership change) points to the event."""
    query = Q()
    for relation in WebhookEvent.consumer_relations():
        query &= Q(**{f"{relation.name}__isnull": True})
    return query


def _age(value: str) -> timedelta:
    match = _AGE.match(value.strip())
    if not match:
        raise CommandError(f"--older-than takes days or hours like 90d or 36h, not {value!r}")
    amount, unit = int(match[1]), match[2]
    return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
