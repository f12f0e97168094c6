import json
import secrets
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import samples
from bootwebhooks.inbox.ingest import Delivery, deliver
from bootwebhooks.inbox.users import email_of, find_user
from bootwebhooks.inbox.verify import signature_header


class Command(BaseCommand):
    help = (
        "Build a realistic Stripe event of TYPE for a user or an email, sign it with the "
        "configured secret, and post it to a running server (--url) or process it here "
        "(--local). Like `stripe trigger`, without Stripe."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("event_type", metavar="TYPE", nargs="?", help="e.g. invoice.paid")
        parser.add_argument(
            "--list", action="store_true", dest="list_types", help="the types it can build"
        )
        who = parser.add_mutually_exclusive_group()
        who.add_argument("--user", help="login name, email or id of the student")
        who.add_argument("--email", help="an email (no user: tests unmatched payments)")
        parser.add_argument("--plan", default="monthly", help="monthly, yearly or lifetime")
        parser.add_argument(
            "--key", help="suffix of the Stripe ids (reuse one to act on the same objects)"
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--url", default="http://127.0.0.1:8000/webhooks/stripe/")
        where.add_argument("--local", action="store_true", help="process in this process")
        parser.add_argument("--print", action="store_true", dest="show", help="print the event too")

    def handle(self, event_type, list_types, user, email, plan, key, url, local, show, **options):
        if list_types or not event_type:
            self.stdout.write("\n".join(sorted(samples.OBJECTS)))
            return
        if event_type not in samples.OBJECTS:
            raise CommandError(f"no sample for {event_type!r}; --list shows what it can build")
        if not app_settings.STRIPE_WEBHOOK_SECRETS:
            raise CommandError("STRIPE_WEBHOOK_SECRETS is not set: nothing to sign with")
        user_id, address = self.student(user, email)
        key = key or secrets.token_hex(4)
        event = samples.build(
            event_type, key=key, user_id=user_id, email=address, now=int(time.time()), plan=plan
        )
        body = json.dumps(event).encode()
        if show:
            self.stdout.write(json.dumps(event, indent=2))
        timestamp = int(time.time())
        header = signature_header(body, app_settings.STRIPE_WEBHOOK_SECRETS[0], timestamp)
        if local:
            receipt = deliver(Delivery.verify(body, {"Stripe-Signature": header}))
            self.stdout.write(f"{receipt.id} {event_type}: {receipt.status}")
            if receipt.status == "failed":
                raise CommandError("the event failed: see its attempt in the admin")
            return
        self.post(url, body, header, f"{event['id']} {event_type}")

    def student(self, user: str | None, email: str | None) -> tuple[int | None, str]:
        if email:
            return None, email
        if not user:
            raise CommandError("say who pays: --user LOGIN|EMAIL|ID or --email EMAIL")
        found = find_user(user)
        if found is None:
            raise CommandError(f"no user {user!r} (or more than one) by login name, email or id")
        return found.pk, email_of(found) or f"{found.pk}@example.com"

    def post(self, url: str, body: bytes, header: str, label: str) -> None:
        request = urllib.request.Request(  # noqa: S310  (the URL is the operator's own)
            url,
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                self.stdout.write(f"{label}: {response.status} {response.read().decode()}")
        except urllib.error.HTTPError as exc:
            raise CommandError(f"{label}: {exc.code} {exc.read().decode()[:200]}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(f"cannot reach {url}: {reason} (is the server running?)") from None
