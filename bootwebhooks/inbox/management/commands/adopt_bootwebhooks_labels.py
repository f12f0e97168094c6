from django.core.management.base import BaseCommand, CommandError

from bootwebhooks.inbox.relabel import Refused, adopt_old_labels


class Command(BaseCommand):
    help = (
        "Move a deployment of the old app labels (inbox, payments, memberships) to the "
        "bootwebhooks_* labels: tables, indexes, content types and migration records, in one "
        "transaction. Run it once, before the first migrate of the new release."
    )

    def handle(self, *args, **options) -> None:
        try:
            done = adopt_old_labels()
        except Refused as exc:
            raise CommandError(f"nothing changed: {exc}") from None
        for line in done:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS("done: now run migrate"))
