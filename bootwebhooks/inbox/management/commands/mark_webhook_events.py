from django.core.management.base import CommandError

from bootwebhooks.inbox.management.commands.replay_webhook_events import Command as Replay
from bootwebhooks.inbox.models import Attempt, WebhookEvent


class Command(Replay):
    help = (
        "Mark stored events processed or ignored without running their handlers, with a note "
        "(what the admin's bulk actions do, for selections larger than they accept). Selects "
        "failed and pending events unless told otherwise."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--as", dest="outcome", required=True, choices=["processed", "ignored"])
        parser.add_argument("--note", required=True, help="why, for whoever looks next")

    def handle(self, ids, statuses, types, since, until, dry_run, quiet, **options) -> None:
        outcome, note = options["outcome"], options["note"].strip()
        if not note:
            raise CommandError("--note must say why")
        selected = self.select(ids, statuses, types, since, until).exclude(status=outcome)
        progress = self.progress(selected.count(), quiet=quiet)
        try:
            for pk, stripe_id in selected.values_list("pk", "stripe_id").iterator():
                if self.stop_requested:
                    break
                if not dry_run:
                    WebhookEvent.resolve(
                        pk, Attempt.Outcome(outcome), user=None, note=note, trigger="command"
                    )
                self.tally("would mark" if dry_run else f"marked {outcome}", stripe_id)
                progress.advance()
        finally:
            progress.finish()
        self.summarise("dry run" if dry_run else f"marked {outcome}")
