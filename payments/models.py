"""What Stripe told us about customers, subscriptions, payments and charges.

These rows are facts merged from event snapshots, each merge order-independent: a snapshot
older than the one applied is refused (the event is then `superseded`), and the monotone facts
(an invoice got paid, an amount was refunded) only ever grow, whenever they arrive. The
memberships app derives access from these facts; nothing here decides who is a member.

`last_event` points at the event that last changed a row. prune_webhook_events keeps such
events; SET_NULL (not PROTECT) is the safety net for any other deletion: a payment must
outlive its events.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, models
from django.db.models import Q
from django.db.models.constants import OnConflict
from django.utils import timezone

from bootwebhooks.inbox import statements
from bootwebhooks.inbox.fields import ExactCharField, FittedCharField, FittedEmailField
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.words import day, money, span
from bootwebhooks.payments.plans import Product

TERMINAL_SUBSCRIPTION_STATUSES = frozenset({"canceled", "incomplete_expired"})
# Stripe's dispute statuses (API reference, Dispute.status): the closed ones are final.
# `prevented` (2025) closes a dispute the issuer stopped, usually with a refund: the refund
# decides access. An inquiry (`warning_*`) has withdrawn no money.
CLOSED_DISPUTE_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})
DISPUTE_STATES = {
    "needs_response": "open",
    "under_review": "open",
    "warning_needs_response": "inquiry",
    "warning_under_review": "inquiry",
    "won": "won",
    "lost": "lost",
    "warning_closed": "closed",
    "prevented": "closed",
}

M = TypeVar("M", bound=models.Model)


def locked_row(model: type[M], **key: Any) -> M:
    """The row with `key`, created if missing, locked for this transaction: one round trip.

    `INSERT ... ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key RETURNING *` inserts a
    missing row, or locks the existing one as `SELECT ... FOR UPDATE` would (waiting for a
    transaction that holds it, bounded by the lock timeout), and returns the row as it is
    after any such wait, in one statement. Two events creating the same row at once: the
    second waits on the unique index, then locks and returns the row the first made. `key` is
    one unique field. On a database that cannot return columns from an INSERT, a select then
    an insert (`locked_or_created`).
    """
    return locked_row_then(model, [], **key)[0]


def locked_row_then(
    model: type[M], reads: Sequence[models.QuerySet], **key: Any
) -> tuple[M, list[list[models.Model]]]:
    """`locked_row`, then each queryset of `reads`, evaluated after the lock and any wait for
    it (so they see what the transaction that held the row committed): all in one round trip
    where the driver hands back each statement's results (inbox.statements.read_each), else
    one after another."""
    db = model._base_manager.db
    if not connections[db].features.can_return_columns_from_insert:
        return locked_or_created(model, **key)[0], [list(rows) for rows in reads]
    (name,) = key
    lock = statements.returning(model, *statements.insert(model(**key), locking=name))
    ((row,), *found) = statements.read_all([lock, *map(statements.read, reads)])
    return row, found


def locked_or_created(model: type[M], **key: Any) -> tuple[M, bool]:
    """The row with `key` locked for this transaction, and whether this call created it.

    A missing row is inserted with ON CONFLICT DO NOTHING (no savepoint, no error to recover
    from). If the INSERT made it, the row is ours as it is: no other transaction sees it or can
    lock it before we commit. Two events creating the same row at once: the second INSERT
    waits on the unique index, does nothing once the first commits, and locks the row the
    first made.
    """
    row = model._default_manager.select_for_update().filter(**key).first()
    if row is not None:
        return row, False
    row = model(**key)
    if _insert_unless_present(row):
        return row, True
    return model._default_manager.select_for_update().get(**key), False


def _insert_unless_present(row: models.Model) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the primary key (PostgreSQL; SQLite says
    INSERT OR IGNORE): True, and the row saved, if this made it. bulk_create(ignore_conflicts)
    says neither, hence the queryset's _insert, which bulk_create and save() are built on.

    A database that cannot return columns from an INSERT only reports the last id it made,
    whether or not this INSERT made a row: there, say False and let the caller select it.
    """
    rows = row.__class__._base_manager.all()
    if not connections[rows.db].features.can_return_columns_from_insert:
        rows.bulk_create([row], ignore_conflicts=True)
        return False
    meta = row._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    (returned,) = rows._insert(
        [row],
        fields=fields,
        returning_fields=meta.db_returning_fields,
        on_conflict=OnConflict.IGNORE,
    )
    if returned is None:
        return False
    for value, field in zip(returned, meta.db_returning_fields, strict=True):
        setattr(row, field.attname, value)
    row._state.adding, row._state.db = False, rows.db  # the database written to
    return True


class StripeCustomer(models.Model):
    """A Stripe customer and the user it belongs to (null while nobody knows whose it is)."""

    customer_id = ExactCharField(max_length=255, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bootwebhooks_stripe_customers",
    )
    email = FittedEmailField(blank=True)
    linked_at = models.DateTimeField(null=True, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Staff who linked it; empty when an event's own data did.",
    )
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Deleted in Stripe.")

    def __str__(self) -> str:
        return self.customer_id

    @classmethod
    def locked(cls, customer_id: str) -> "StripeCustomer":
        return locked_row(cls, customer_id=customer_id)

    def link(self, user: Any, *, by: Any) -> None:
        """Staff link the customer to `user`, who takes over all of the customer's facts."""
        self.user, self.linked_at, self.linked_by = user, timezone.now(), by
        statements.save(self, ["user", "linked_at", "linked_by"])
        self._hand_over(user.pk if user is not None else None, only_unmatched=False)

    def claim_for(self, user_id: Any, *, also_save: list[str] | None = None) -> None:
        """An event's own data says whose this unlinked customer is (the user's primary key):
        link it (unless Stripe deleted it) and hand over the facts nobody owned yet. Deleted
        or not, the facts move, so the outcome does not depend on whether the deletion
        arrived first. `also_save`: fields the caller changed, saved in the same UPDATE."""
        fields = list(also_save or [])
        if self.deleted_at is None:
            self.user_id, self.linked_at = user_id, timezone.now()
            fields += ["user", "linked_at"]
        if fields:
            statements.save(self, fields)
        self._hand_over(user_id, only_unmatched=True)

    def _hand_over(self, user_id: Any, *, only_unmatched: bool) -> None:
        for model in (Payment, Subscription):
            facts = model.objects.filter(customer_id=self.customer_id)
            if only_unmatched:
                facts = facts.filter(user__isnull=True)
            facts.update(user_id=user_id)

    def mark_deleted(self, when: datetime, email: str = "") -> None:
        """Unlink: later events for this customer no longer find a user through it (its
        email, kept, still can)."""
        self.user, self.deleted_at = None, when
        self.email = self.email or email
        statements.save(self, ["user", "deleted_at", "email"])


class Subscription(models.Model):
    """The newest snapshot we hold of one Stripe subscription."""

    subscription_id = ExactCharField(max_length=255, unique=True)
    customer_id = ExactCharField(max_length=255, blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bootwebhooks_subscriptions",
    )
    status = ExactCharField(max_length=32, blank=True, help_text="Empty: known from Checkout only.")
    plan = models.CharField(
        max_length=32, blank=True, help_text="The membership plan; empty: grants nothing."
    )
    product = models.CharField(
        max_length=16,
        choices=Product,
        default=Product.UNKNOWN,
        help_text="Whether its prices are a membership product (unknown: known from Checkout "
        "only, its items not seen yet).",
    )
    started_at = models.DateTimeField(null=True, blank=True, help_text="Stripe's `created`.")
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    checkout_paid_at = models.DateTimeField(
        null=True, blank=True, help_text="When a paid Checkout session created it."
    )
    snapshot_at = models.DateTimeField(null=True, blank=True, help_text="`created` of the event.")
    snapshot_event_id = ExactCharField(max_length=255, blank=True)
    last_event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.status or 'checkout'}"

    def describe_effect(self) -> str:
        state = self.status or "paid at Checkout, not yet seen"
        until = (
            f", current period to {day(self.current_period_end)}" if self.current_period_end else ""
        )
        return f"subscription {self.subscription_id} for {_owner(self)}: {state}{until}"

    @classmethod
    def locked(cls, subscription_id: str) -> "Subscription":
        return locked_row(cls, subscription_id=subscription_id)

    @property
    def snapshot_key(self) -> tuple[bool, datetime, str] | None:
        """Newer snapshots sort higher. A terminal status is the last word whatever its time:
        nothing follows `canceled`, so a same-second tie can only be ordered one way."""
        if self.snapshot_at is None:
            return None
        terminal = self.status in TERMINAL_SUBSCRIPTION_STATUSES
        return (terminal, self.snapshot_at, self.snapshot_event_id)

    def apply_snapshot(self, event: WebhookEvent, **fields: Any) -> bool:
        """Take the subscription's state from `event` unless we hold a newer one; True if taken."""
        terminal = fields["status"] in TERMINAL_SUBSCRIPTION_STATUSES
        incoming = (terminal, event.stripe_created, event.stripe_id)
        if self.snapshot_key is not None and incoming <= self.snapshot_key:
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        self.snapshot_at, self.snapshot_event_id = event.stripe_created, event.stripe_id
        self.last_event = event
        statements.save(self)
        return True

    def mark_checkout_paid(self, event: WebhookEvent, paid_at: datetime) -> None:
        """Remember the earliest paid Checkout for the subscription (the caller saves)."""
        if self.checkout_paid_at is None or paid_at < self.checkout_paid_at:
            self.checkout_paid_at, self.last_event = paid_at, event


class Payment(models.Model):
    """One payment: an invoice, or the payment intent of a one-off Checkout."""

    class Kind(models.TextChoices):
        INVOICE = "invoice"
        ONE_OFF = "one_off", "one-off"

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REFUNDED = "refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "partially refunded"
        DISPUTED = "disputed"

    class Dispute(models.TextChoices):
        NONE = "", "none"
        OPEN = "open"
        INQUIRY = "inquiry", "inquiry (no money withdrawn)"
        WON = "won"
        LOST = "lost"
        CLOSED = "closed", "closed (inquiry closed, or prevented)"
        UNKNOWN = "unknown", "unknown status: needs review"

    stripe_id = ExactCharField(
        max_length=255, unique=True, help_text="in_... or, for one-off Checkout, pi_... (cs_...)"
    )
    kind = models.CharField(max_length=16, choices=Kind)
    customer_id = ExactCharField(max_length=255, blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bootwebhooks_payments",
        help_text="Empty: unmatched, waiting for staff to link the customer.",
    )
    subscription_id = ExactCharField(max_length=255, blank=True, db_index=True)
    payment_intent_id = ExactCharField(max_length=255, blank=True, db_index=True)
    amount = models.PositiveBigIntegerField(default=0, help_text="In the currency's minor unit.")
    currency = ExactCharField(max_length=3, blank=True)
    plan = models.CharField(
        max_length=32, blank=True, help_text="The membership plan it pays for; empty: none."
    )
    product = models.CharField(
        max_length=16,
        choices=Product,
        default=Product.OTHER,
        help_text="Whether it pays for a membership product; unknown: a price the catalogue "
        "has not seen (staff review it; a price event or sync_stripe_prices resolves it).",
    )
    price_ids = models.JSONField(
        default=list, blank=True, help_text="Prices of its lines (credit lines left out)."
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(
        null=True, blank=True, help_text="End of the access it pays for; empty for lifetime."
    )
    paid = models.BooleanField(default=False)
    failed = models.BooleanField(default=False)
    amount_refunded = models.PositiveBigIntegerField(default=0)
    fully_refunded = models.BooleanField(default=False)
    dispute = models.CharField(max_length=8, choices=Dispute, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    last_event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    updated_at = models.DateTimeField(auto_now=True)

    # Which of a payment's charges' dispute states it shows: the most serious.
    DISPUTE_PRIORITY = (
        Dispute.OPEN,
        Dispute.LOST,
        Dispute.INQUIRY,
        Dispute.UNKNOWN,
        Dispute.WON,
        Dispute.CLOSED,
    )
    UNSETTLED_DISPUTES = frozenset({Dispute.OPEN, Dispute.INQUIRY, Dispute.LOST, Dispute.UNKNOWN})

    class Meta:
        indexes = [
            # The few payments waiting for a price (read by every embedded price, see catalogue).
            models.Index(
                fields=["product"],
                condition=Q(product=Product.UNKNOWN),
                name="payment_waiting_for_price",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.status}"

    def describe_effect(self) -> str:
        period = ""
        if self.period_end:
            period = f" for {span(self.period_start, self.period_end)}"
        return (
            f"a {money(self.amount, self.currency)} {self.get_kind_display().lower()} payment "
            f"{self.stripe_id} for {_owner(self)}: {self.get_status_display().lower()}{period}"
        )

    @classmethod
    def needing_review(cls) -> models.QuerySet["Payment"]:
        """What staff must look at: a paid payment for a price nobody knows, or a dispute in a
        status Stripe added after this code was written. Neither grants nor suspends."""
        return cls.objects.filter(
            Q(paid=True, product=Product.UNKNOWN) | Q(dispute=cls.Dispute.UNKNOWN)
        )

    @classmethod
    def locked(cls, stripe_id: str, kind: "Payment.Kind") -> "Payment":
        payment = locked_row(cls, stripe_id=stripe_id)
        payment.kind = payment.kind or kind  # blank only on a row just inserted
        return payment

    @property
    def _rank(self) -> int:
        return 2 if self.paid else 1 if self.failed else 0

    def apply_outcome(self, *, paid: bool, failed: bool) -> bool | None:
        """Merge a snapshot's payment outcome: pending < failed < paid, and paid is final.

        Returns True if it changed something, False if it added nothing, None if it is older
        than what is applied (a failure reported after the payment went through).
        """
        incoming = 2 if paid else 1 if failed else 0
        if incoming < self._rank:
            return None
        if incoming == self._rank:
            return False
        self.paid, self.failed = paid or self.paid, failed and not paid
        return True

    def charges_read(self) -> statements.Read:
        """Its charges (by its invoice, or a payment intent it names), as a read that can share
        a query with others (`statements.read_all`)."""
        invoice, invoice_params = statements.among(Charge, "invoice_id", [self.stripe_id])
        intents = sorted({self.payment_intent_id, self.stripe_id} - {""})
        intent, intent_params = statements.among(Charge, "payment_intent_id", intents)
        return statements.selecting(
            Charge, f"{invoice} OR {intent}", [*invoice_params, *intent_params]
        )

    def settle(
        self, event: WebhookEvent, *, changed: bool = False, charges: list["Charge"] | None = None
    ) -> None:
        """Fold in refunds and disputes of its charges, derive the status, and save.

        `charges` are its charges if the caller read them already (`charges_read`).
        `last_event` moves only if this event changed the payment's outcome or status.
        """
        before = (self.amount_refunded, self.fully_refunded, self.dispute, self.status)
        if charges is None:
            (charges,) = statements.read_all([self.charges_read()])
        self.amount_refunded = max([self.amount_refunded, *(c.amount_refunded for c in charges)])
        self.fully_refunded = any(c.refunded for c in charges) or (
            self.amount > 0 and self.amount_refunded >= self.amount
        )
        disputes = {c.dispute for c in charges} - {""}
        for state in self.DISPUTE_PRIORITY:
            if state in disputes:
                self.dispute = state
                break
        self.status = self._derived_status()
        after = (self.amount_refunded, self.fully_refunded, self.dispute, self.status)
        if changed or before != after or self.last_event_id is None:
            self.last_event = event
        statements.save(self)

    def _derived_status(self) -> str:
        if self.paid and self.dispute in self.UNSETTLED_DISPUTES:
            return self.Status.DISPUTED
        if self.paid and self.fully_refunded:
            return self.Status.REFUNDED
        if self.paid and self.amount_refunded:
            return self.Status.PARTIALLY_REFUNDED
        if self.paid:
            return self.Status.SUCCEEDED
        return self.Status.FAILED if self.failed else self.Status.PENDING

    def revoked(self, *, refund_revokes: bool) -> bool:
        """Paid, but the money went back: a lost dispute, or a full refund if that revokes."""
        refunded = refund_revokes and self.fully_refunded
        return self.paid and (self.dispute == self.Dispute.LOST or refunded)

    def suspends(self, *, inquiry_suspends: bool) -> bool:
        """Paid, with a dispute open (or an inquiry, if MEMBERSHIP_SUSPEND_ON_INQUIRY)."""
        suspending = {self.Dispute.OPEN, *([self.Dispute.INQUIRY] if inquiry_suspends else [])}
        return self.paid and self.dispute in suspending

    def grants(self, *, refund_revokes: bool, inquiry_suspends: bool) -> bool:
        return (
            self.paid
            and not self.suspends(inquiry_suspends=inquiry_suspends)
            and not self.revoked(refund_revokes=refund_revokes)
        )


class Charge(models.Model):
    """Refund and dispute facts of one charge, kept apart from the payment they belong to.

    A refund can arrive before its invoice, and since basil a charge no longer names its
    invoice (only `invoice_payment.paid` ties the payment intent to it), so the payment finds
    its charges by payment intent or invoice id whenever either side arrives.
    """

    charge_id = ExactCharField(max_length=255, unique=True)
    payment_intent_id = ExactCharField(max_length=255, blank=True, db_index=True)
    invoice_id = ExactCharField(max_length=255, blank=True, db_index=True)
    customer_id = ExactCharField(max_length=255, blank=True)
    amount_refunded = models.PositiveBigIntegerField(default=0)
    refunded = models.BooleanField(default=False)
    dispute = models.CharField(max_length=8, choices=Payment.Dispute, blank=True, default="")
    dispute_status = ExactCharField(
        max_length=64, blank=True, help_text="Stripe's own status of the dispute, as sent."
    )
    dispute_at = models.DateTimeField(null=True, blank=True)
    dispute_event_id = ExactCharField(max_length=255, blank=True)
    last_event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="charges"
    )

    def __str__(self) -> str:
        return self.charge_id

    def describe_effect(self) -> str:
        facts = []
        if self.amount_refunded:
            facts.append("refunded in full" if self.refunded else "partly refunded")
        if self.dispute:
            facts.append(f"dispute {self.get_dispute_display().lower()}")
        if facts and not self.payments().exists():
            # Since basil a charge names no invoice: invoice_payment.paid ties them later.
            facts.append(
                "not tied to any payment yet, so no access changes until Stripe's "
                "invoice_payment.paid names its invoice"
            )
        return f"charge {self.charge_id}: " + (", ".join(facts) or "no refund or dispute")

    @classmethod
    def locked(cls, charge_id: str) -> "Charge":
        return locked_row(cls, charge_id=charge_id)

    def payments(self) -> models.QuerySet[Payment]:
        intents = {self.payment_intent_id} - {""}
        query = Q(payment_intent_id__in=intents) | Q(stripe_id__in=intents)
        if self.invoice_id:
            query |= Q(stripe_id=self.invoice_id)
        return Payment.objects.filter(query)

    def apply_refund(
        self, event: WebhookEvent, *, amount_refunded: int, refunded: bool
    ) -> bool | None:
        """Refunds only grow: a snapshot showing less than we know is an older one (None)."""
        if amount_refunded < self.amount_refunded or (self.refunded and not refunded):
            return None
        if (amount_refunded, refunded) == (self.amount_refunded, self.refunded):
            return False
        self.amount_refunded, self.refunded = amount_refunded, refunded
        self.last_event = event
        statements.save(self)
        return True

    def apply_dispute(self, event: WebhookEvent, status: str) -> bool:
        """Take the dispute's state unless we hold a newer one; a closed dispute is final.

        A status Stripe adds later maps to `unknown`: it neither suspends nor revokes, and
        staff see it flagged.
        """
        state = DISPUTE_STATES.get(status, Payment.Dispute.UNKNOWN)
        incoming = (status in CLOSED_DISPUTE_STATUSES, event.stripe_created, event.stripe_id)
        if self.dispute_at is not None:
            current = (
                self.dispute in (Payment.Dispute.WON, Payment.Dispute.LOST, Payment.Dispute.CLOSED),
                self.dispute_at,
                self.dispute_event_id,
            )
            if incoming <= current:
                return False
        self.dispute, self.dispute_status = state, status[:64]
        self.dispute_at, self.dispute_event_id = event.stripe_created, event.stripe_id
        self.last_event = event
        statements.save(self)
        return True


class Price(models.Model):
    """The price catalogue: every Stripe price seen, from price events, from any payload that
    embeds a price object, or from `manage.py sync_stripe_prices`.

    Since basil an invoice line names only its price id; this is where that id finds its
    product and lookup key, and so its plan. A deleted price stays (old invoices name it).
    """

    price_id = ExactCharField(max_length=255, unique=True)
    product_id = ExactCharField(max_length=255, blank=True, db_index=True)
    lookup_key = ExactCharField(max_length=255, blank=True)
    nickname = FittedCharField(max_length=255, blank=True)
    currency = ExactCharField(max_length=3, blank=True)
    unit_amount = models.BigIntegerField(null=True, blank=True)
    interval = models.CharField(
        max_length=8, blank=True, help_text="`recurring.interval`; empty: one-off."
    )
    active = models.BooleanField(default=True)
    livemode = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Deleted in Stripe.")
    snapshot_at = models.DateTimeField(
        null=True, blank=True, help_text="`created` of the event it came from, or when synced."
    )
    snapshot_event_id = models.CharField(max_length=255, blank=True)
    last_event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="prices"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.lookup_key or self.nickname or self.price_id

    @classmethod
    def locked(cls, price_id: str) -> "Price":
        return locked_row(cls, price_id=price_id)

    @staticmethod
    def snapshot(price: dict[str, Any], *, deleted: bool = False) -> dict[str, Any]:
        """The catalogue's fields of a Stripe price object (all but when and whence)."""
        product = price.get("product")
        if isinstance(product, dict):
            product = product.get("id")
        recurring = price.get("recurring") if isinstance(price.get("recurring"), dict) else {}
        amount = price.get("unit_amount")
        return {
            "product_id": _text(product, 255),
            "lookup_key": _text(price.get("lookup_key"), 255),
            "nickname": _text(price.get("nickname"), 255),
            "currency": _text(price.get("currency"), 3),
            "unit_amount": (
                amount if isinstance(amount, int) and not isinstance(amount, bool) else None
            ),
            "interval": _text(recurring.get("interval"), 8),
            "active": price.get("active") is not False and not deleted,
            "livemode": price.get("livemode") is True,
        }

    def apply_snapshot(
        self,
        price: dict[str, Any],
        *,
        at: datetime,
        source_id: str,
        event: WebhookEvent | None = None,
        deleted: bool = False,
    ) -> bool:
        """Take the price as of `at` unless we hold a newer snapshot; True if taken."""
        incoming = (at, source_id)
        if self.snapshot_at is not None and incoming <= (self.snapshot_at, self.snapshot_event_id):
            return False
        for name, value in self.snapshot(price, deleted=deleted).items():
            setattr(self, name, value)
        if deleted:
            self.deleted_at = self.deleted_at or at
        self.snapshot_at, self.snapshot_event_id = at, source_id
        self.last_event = event or self.last_event
        statements.save(self)
        return True


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _owner(row: Payment | Subscription) -> str:
    if row.user is not None:
        return row.user.get_username()
    return f"nobody yet (customer {row.customer_id or 'unknown'}, unmatched)"
