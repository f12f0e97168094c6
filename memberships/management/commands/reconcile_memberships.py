import csv
import io
import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import stripe_api
from bootwebhooks.inbox.fields import printable
from bootwebhooks.inbox.management.runner import ItemCommand
from bootwebhooks.memberships import reconcile
from bootwebhooks.memberships.models import Membership


class Command(ItemCommand):
    help = (
        "Compare every membership with its customers' subscriptions in Stripe (mirrored into "
        "dj-stripe) and report the drift; --apply brings local state to Stripe's, recording "
        "each change in the membership history."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--apply", action="store_true", help="repair the drift")
        parser.add_argument(
            "--format", choices=["table", "json", "csv"], default="table", dest="fmt"
        )
        parser.add_argument("--user", type=int, action="append", dest="users", help="user id")
        super().add_arguments(parser)

    def handle(self, apply, fmt, users, quiet, **options) -> None:
        if not app_settings.STRIPE_MIRROR:
            raise CommandError(
                "the Stripe mirror is off: set STRIPE_MIRROR=1 and run manage.py migrate "
                "(dj-stripe's tables), then run this again"
            )
        try:
            client = stripe_api.client()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        memberships = reconcile.members_to_check(users)
        progress = self.progress(memberships.count(), quiet=quiet)
        drifts: list[reconcile.Drift] = []
        try:
            for membership in memberships.iterator():
                if self.stop_requested:
                    break
                drifts.extend(self.check_one(client, membership, apply))
                progress.advance()
        finally:
            progress.finish()
        self.report(drifts, fmt)
        self.summarise("applied" if apply else "checked")

    def check_one(self, client, membership: Membership, apply: bool) -> list:
        found = []
        for customer_id in reconcile.customers_of(membership):
            try:
                subs = reconcile.stripe_subscriptions(client, customer_id)
                reconcile.mirror(customer_id, subs)
                drifts = reconcile.compare(membership.user, customer_id, subs)
                failed = []
                if apply:
                    for sub_id in sorted({d.subscription_id for d in drifts}):
                        status = reconcile.apply(next(s for s in subs if s["id"] == sub_id))
                        if status == "failed":
                            failed.append(sub_id)
            except Exception as exc:  # one customer must not end the run
                self.stderr.write(f"{printable(customer_id)}: {exc!r}")
                self.tally("failed", customer_id)
                continue
            self.tally("drifted" if drifts else "in sync")
            for sub_id in failed:
                self.stderr.write(
                    f"{printable(sub_id)}: its repair failed; see the event's attempt"
                )
                self.tally("failed", sub_id)
            if drifts and apply and not failed:
                self.tally("repaired")
            found.extend(drifts)
        return found

    def report(self, drifts: list, fmt: str) -> None:
        rows = [d.row() for d in drifts]
        if fmt == "json":
            self.stdout.write(json.dumps(rows, indent=2))
        elif fmt == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(reconcile.Drift.__annotations__))
            writer.writeheader()
            writer.writerows(rows)
            self.stdout.write(buffer.getvalue(), ending="")
        elif not rows:
            self.stdout.write("no drift")
        else:
            columns = list(rows[0])
            widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
            self.stdout.write("  ".join(c.ljust(widths[c]) for c in columns))
            for row in rows:
                self.stdout.write("  ".join(row[c].ljust(widths[c]) for c in columns))
