from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from bootwebhooks.inbox import stripe_api
from bootwebhooks.inbox.management.runner import ItemCommand
from bootwebhooks.memberships.models import Membership
from bootwebhooks.payments import catalogue

PAGE = 100


class Command(ItemCommand):
    help = (
        "Fill the price catalogue from Stripe's API (active and inactive prices), so that "
        "invoices naming only a price id (API version 2025-03-31.basil and later) resolve to "
        "their plan; payments that waited for a price are resolved and their members' access "
        "derived again. Safe to run any time: a price event newer than the sync still wins."
    )

    def handle(self, quiet, **options) -> None:
        try:
            client = stripe_api.client()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        started = timezone.now()
        source = f"sync_stripe_prices {started.isoformat()}"
        progress = self.progress(quiet=quiet)
        users: set[int] = set()
        try:
            # Listing prices returns active ones only unless `active=false` is asked for.
            for active in (True, False):
                users |= self.sync(client, active, started, source, progress)
        finally:
            progress.finish()
        for user_id in sorted(users):
            Membership.refresh(user_id, reason="price catalogue synced")
        self.tally_users(len(users))
        self.summarise("synced")

    def sync(self, client, active: bool, at, source: str, progress) -> set[int]:
        users: set[int] = set()
        after = None
        page_number = 0
        while not self.stop_requested:
            params = {"limit": PAGE, "active": active}
            if after:
                params["starting_after"] = after
            page = client.v1.prices.list(params=params)
            page_number += 1
            taken = 0
            for price in page.data:
                item = price.to_dict()
                try:
                    with transaction.atomic():
                        recorded, resolved = catalogue.record(item, at=at, source_id=source)
                except Exception as exc:  # one bad price must not stop the catalogue
                    self.stderr.write(f"{item.get('id')}: {type(exc).__name__}: {exc}")
                    self.tally("failed", str(item.get("id")))
                    continue
                users |= resolved
                taken += recorded
                self.tally("recorded" if recorded else "unchanged")
            progress.advance(len(page.data))
            kind = "active" if active else "inactive"
            self.stdout.write(
                f"{kind} prices, page {page_number}: {len(page.data)} read, {taken} recorded"
            )
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
        return users

    def tally_users(self, count: int) -> None:
        if count:
            self.counts["members re-derived"] += count
