import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from bootwebhooks.inbox import statements
from bootwebhooks.inbox.fields import FittedCharField, FittedTextField


class WebhookEvent(models.Model):
    """One Stripe event, stored once per event id however often Stripe delivers it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"
        SUPERSEDED = "superseded"

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        IMPORT = "import"
        BACKFILL = "backfill"
        COMMAND = "command"

    # Statuses a redelivery leaves alone: the event's effects (or its lack of any) are final.
    FINAL = frozenset({Status.PROCESSED, Status.IGNORED, Status.SUPERSEDED})

    stripe_id = models.CharField("event id", max_length=255, unique=True)
    type = models.CharField(max_length=100)
    api_version = FittedCharField(max_length=64, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField(help_text="Stripe's `created` for the event.")
    account = FittedCharField(max_length=255, blank=True, help_text="Connect account, if any.")
    object_id = FittedCharField(max_length=255, blank=True, help_text="`data.object.id`")
    customer_id = FittedCharField(max_length=255, blank=True)
    customer_email = FittedCharField(max_length=254, blank=True)
    body = models.TextField(help_text="The payload exactly as Stripe signed it.")
    source = models.CharField(max_length=16, choices=Source, default=Source.WEBHOOK)
    received_at = models.DateTimeField(auto_now_add=True)
    headers = models.JSONField(default=dict, blank=True, help_text="First delivery's, redacted.")
    delivery_count = models.PositiveIntegerField(default=1)
    attempt_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    ignored_reason = FittedCharField(
        max_length=255,
        blank=True,
        help_text="Why it was ignored: no handler, or outside this deployment's mode or "
        "account (inbox/scope.py).",
    )

    class Meta:
        indexes = [
            models.Index(fields=["status", "-received_at"], name="bw_inbox_status_received"),
            models.Index(fields=["type", "-received_at"], name="bw_inbox_type_received"),
            models.Index(fields=["-received_at"], name="bw_inbox_received"),
            models.Index(fields=["object_id"], name="bw_inbox_object"),
            models.Index(fields=["customer_id"], name="bw_inbox_customer"),
            models.Index(fields=["customer_email"], name="bw_inbox_customer_email"),
            models.Index(fields=["-stripe_created"], name="bw_inbox_stripe_created"),
        ]
        permissions = [
            ("retry_webhookevent", "Can retry webhook events"),
            ("resolve_webhookevent", "Can mark webhook events processed or ignored"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.type}"

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def object(self) -> dict[str, Any]:
        """The snapshot of the Stripe object at event time (`data.object`)."""
        return self.data["data"]["object"]

    @property
    def previous_attributes(self) -> dict[str, Any]:
        return self.data["data"].get("previous_attributes") or {}

    @classmethod
    def consumer_relations(cls) -> list:
        """Reverse relations from other apps' rows to events (payments, membership changes).

        Found at run time, so the inbox needs no import of its consumers; attempts are the
        inbox's own and not included.
        """
        return [r for r in cls._meta.related_objects if r.related_model is not Attempt]

    @classmethod
    def resolve(
        cls,
        pk: int,
        outcome: "Attempt.Outcome",
        *,
        user: Any,
        note: str,
        trigger: str = "staff",
    ) -> "WebhookEvent":
        """Staff decide an event's outcome without running handlers (mark processed/ignored),
        in the admin or (`trigger="command"`) with mark_webhook_events.

        Under the same row lock as dispatch, and recorded as an attempt with the staff user and
        the required note.
        """
        if outcome not in (Attempt.Outcome.PROCESSED, Attempt.Outcome.IGNORED):
            raise ValueError(f"staff can mark events processed or ignored, not {outcome!r}")
        if not note.strip():
            raise ValueError("a note is required")
        with transaction.atomic():
            event = cls.locked(pk)
            now = timezone.now()
            event.status = outcome
            event.processed_at = now
            event.attempt_count += 1
            ignored = outcome == Attempt.Outcome.IGNORED
            event.ignored_reason = (
                f"marked ignored by staff: {note.strip()}"[:255] if ignored else ""
            )
            event.save(update_fields=["status", "processed_at", "attempt_count", "ignored_reason"])
            Attempt.objects.create(
                event=event,
                trigger=trigger,
                user=user,
                started_at=now,
                finished_at=now,
                outcome=outcome,
                note=note.strip(),
            )
        return event

    @classmethod
    def locked(cls, pk: int) -> "WebhookEvent":
        """The event, its row locked until the transaction ends (`select_for_update().get()`,
        written out: every event processed pays for it)."""
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        column = connection.ops.quote_name(cls._meta.pk.column)
        (rows,) = statements.read_all([statements.selecting(cls, f"{column} = %s{lock}", [pk])])
        if not rows:
            raise cls.DoesNotExist(f"no webhook event {pk}")
        return rows[0]

    @classmethod
    def count_delivery(
        cls, stripe_id: str, *, first: Sequence[statements.Statement] = ()
    ) -> tuple[int, str] | None:
        """Count one more delivery of a stored event and return its (pk, status); `first`
        are statements to run before it in the same query (the bounds, inbox.timeouts).

        One indexed round trip, which is all a duplicate delivery costs. If the event is being
        processed right now the UPDATE waits for that transaction's row lock, so the status it
        returns is the committed outcome, never a half-done one. The ORM's update() cannot
        return columns, hence the SQL (UPDATE ... RETURNING: PostgreSQL, SQLite >= 3.35).

        On PostgreSQL outside a transaction, the count commits without waiting for the WAL
        flush (`SET LOCAL synchronous_commit = off` in the same round trip: two statements run
        as one implicit transaction). The count is a diagnostic: a database crash may lose the
        last few, never an event or a status, which were committed durably before. Inside a
        transaction (queued mode may enqueue in it) the caller's durability stands.
        """
        db = connections[DEFAULT_DB_ALIAS]  # once: each look-up through `connection` costs as much
        table = db.ops.quote_name(cls._meta.db_table)
        sql = (
            f"UPDATE {table} SET delivery_count = delivery_count + 1 "  # noqa: S608
            "WHERE stripe_id = %s RETURNING id, status"
        )
        relaxed = (
            db.vendor == "postgresql"
            and not db.in_atomic_block
            and statements.batching(db) != statements.ONE_BY_ONE  # both in one query, or neither
        )
        parts = [("SET LOCAL synchronous_commit = off", [])] if relaxed else []
        with db.cursor() as cursor:
            statements.send(cursor, [*first, *parts, (sql, [stripe_id])])
            row = cursor.fetchone()
        return (row[0], row[1]) if row else None


class Attempt(models.Model):
    """One try at processing an event, or a staff decision about it, for the audit trail."""

    class Outcome(models.TextChoices):
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"
        SUPERSEDED = "superseded"

    class Trigger(models.TextChoices):
        WEBHOOK = "webhook"
        COMMAND = "command"
        STAFF = "staff"
        WORKER = "worker"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="attempts")
    trigger = models.CharField(max_length=16, choices=Trigger)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bootwebhooks_attempts",
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome)
    error = FittedTextField(blank=True)
    traceback = FittedTextField(blank=True)
    note = FittedTextField(blank=True)

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.outcome} by {self.triggered_by}"

    @property
    def triggered_by(self) -> str:
        """`webhook`, `command`, or `staff:<username>` (the user may since have been deleted)."""
        if self.trigger == self.Trigger.STAFF:
            name = self.user.get_username() if self.user else "deleted user"
            return f"staff:{name}"
        return self.trigger


class Checkpoint(models.Model):
    """Where a resumable command got to (e.g. a backfill's Stripe list cursor)."""

    name = models.CharField(max_length=255, unique=True)
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
