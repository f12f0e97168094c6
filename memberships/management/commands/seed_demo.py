import json
import time
from collections import Counter

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.ingest import Delivery, deliver
from bootwebhooks.inbox.samples import customer_journey
from bootwebhooks.inbox.verify import signature_header
from bootwebhooks.memberships.models import Membership
from bootwebhooks.memberships.roles import create_roles
from bootwebhooks.memberships.services import is_member

DEMO_USERNAME = DEMO_PASSWORD = "demo"  # noqa: S105  (a laptop demo; refused without DEBUG)


class Command(BaseCommand):
    help = "Create the demo staff login and deliver a few signed sample events (DEBUG only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates a known superuser login: run it with DEBUG on.")
        if not app_settings.STRIPE_WEBHOOK_SECRETS:
            raise CommandError("set STRIPE_WEBHOOK_SECRETS first (make run sets a demo one).")
        create_roles()
        self.ensure_staff_user()
        outcomes = Counter(self.deliver(event).status for event in self.sample_events())
        summary = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        User = get_user_model()
        User.objects.get_or_create(username="ada", defaults={"email": "ada@example.com"})
        self.stdout.write(
            "\nbootwebhooks demo is ready\n"
            f"  admin     http://127.0.0.1:8000/admin/  (user {DEMO_USERNAME}, "
            f"password {DEMO_PASSWORD})\n"
            "  endpoint  POST http://127.0.0.1:8000/webhooks/stripe/  signing secret "
            f"{app_settings.STRIPE_WEBHOOK_SECRETS[0]}\n"
            f"  sample events delivered: {summary}\n"
        )
        for username in ("student", "ada"):
            self.stdout.write("  " + self.describe(User.objects.get(username=username)))
        self.stdout.write(
            "  unlock ada with a signed event: "
            ".venv/bin/python manage.py send_test_webhook invoice.paid --user ada\n"
        )

    def describe(self, user) -> str:
        membership = Membership.objects.filter(user=user).first()
        if membership is None or not is_member(user):
            return f"{user.get_username()} (id {user.pk}) is not a member"
        until = membership.access_until.strftime("%Y-%m-%d") if membership.access_until else "ever"
        return f"{user.get_username()} (id {user.pk}) is a member ({membership.plan}) until {until}"

    def ensure_staff_user(self) -> None:
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()

    def sample_events(self) -> list[dict]:
        User = get_user_model()
        student, _ = User.objects.get_or_create(
            username="student", defaults={"email": "student@example.com"}
        )
        now = int(time.time())
        # A student who signed up, and a payer nobody can match to a user yet (support links
        # them in the admin).
        return [
            *customer_journey(key="demo1", user_id=student.pk, email=student.email, now=now),
            *customer_journey(key="demo2", user_id=None, email="walk-in@example.com", now=now),
        ]

    def deliver(self, event: dict):
        """Signed with the configured secret and received exactly as the endpoint would."""
        body = json.dumps(event).encode()
        timestamp = int(time.time())
        header = signature_header(body, app_settings.STRIPE_WEBHOOK_SECRETS[0], timestamp)
        headers = {"Stripe-Signature": header, "User-Agent": "bootwebhooks seed_demo"}
        return deliver(Delivery.verify(body, headers))
