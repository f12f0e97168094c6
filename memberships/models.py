from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import statements
from bootwebhooks.inbox.fields import FittedCharField
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.signals import send_on_commit
from bootwebhooks.inbox.statements import Read, Statement, read_all, returning, selecting
from bootwebhooks.inbox.words import when
from bootwebhooks.memberships import access
from bootwebhooks.memberships.signals import membership_changed
from bootwebhooks.payments.models import Payment, Subscription, locked_row, locked_row_then
from bootwebhooks.payments.plans import LIFETIME

# A user's payments and subscriptions, as Membership.rederive reads them.
Facts = tuple[list[Payment], list[Subscription]]


class Membership(models.Model):
    """A user's access, derived from their Stripe facts; change it through `refresh()`."""

    class Status(models.TextChoices):
        NONE = access.NONE
        ACTIVE = access.ACTIVE
        TRIALING = access.TRIALING
        GRACE = access.GRACE, "grace period"
        ENDED = access.ENDED
        SUSPENDED = access.SUSPENDED, "suspended (dispute open)"
        REVOKED = access.REVOKED  # by a refund, a lost dispute or staff: the page says which

    GRANTING = frozenset({Status.ACTIVE, Status.TRIALING, Status.GRACE})

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="bootwebhooks_membership",
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.NONE)
    plan = models.CharField(max_length=32, blank=True)
    access_until = models.DateTimeField(null=True, blank=True, help_text="Empty for lifetime.")
    subscription_id = models.CharField(max_length=255, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    overridden = models.BooleanField(
        default=False, help_text="Staff have overridden it at least once (see its overrides)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"membership of {self.user}"

    def grants_access(self, at: datetime) -> bool:
        if self.status not in self.GRANTING:
            return False
        if self.access_until is None:
            return self.plan == LIFETIME
        return at < self.access_until

    def state(self) -> dict[str, Any]:
        until = self.access_until.isoformat() if self.access_until else None
        return {
            "status": self.status,
            "plan": self.plan,
            "access_until": until,
            "subscription_id": self.subscription_id,
            "cancel_at_period_end": self.cancel_at_period_end,
        }

    @classmethod
    def locked_for(cls, user_id: int) -> "Membership":
        """The user's membership, created if missing, locked until the transaction ends.

        Two events creating it at once: the loser's INSERT waits on the unique index and does
        nothing once the winner commits; it then locks the winner's row, so no update is lost.
        """
        return locked_row(cls, user_id=user_id)

    @classmethod
    def locked_with_facts(cls, user_id: int) -> tuple["Membership", "Facts"]:
        """`locked_for`, and the user's payments and subscriptions read after the lock: one
        round trip where the driver allows (payments.models.locked_row_then)."""
        membership, (payments, subscriptions) = locked_row_then(
            cls,
            [Payment.objects.filter(user_id=user_id), Subscription.objects.filter(user_id=user_id)],
            user_id=user_id,
        )
        return membership, (payments, subscriptions)

    @classmethod
    def locked_with_facts_of(cls, users: Statement) -> list[tuple["Membership", "Facts"]]:
        """`locked_with_facts` for each user the query `users` selects (one column, the user's
        key), in key order.

        Where the driver hands back each statement's results, in one round trip: one
        `INSERT ... SELECT ... ORDER BY ... ON CONFLICT DO UPDATE` creates or locks the
        memberships, in key order, then two SELECTs read those users' payments and
        subscriptions. PostgreSQL runs them one after another, each with its own snapshot, so
        the facts are read after the locks and any wait for them. A user the reads find but
        the lock did not (the query answered differently in between) is left to the
        transaction that changed it, which re-derives its own users. Elsewhere: `users`,
        then each membership locked with its facts.
        """
        if statements.batching() != statements.EACH_RESULT:
            with connection.cursor() as cursor:
                cursor.execute(*users)
                keys = sorted({key for (key,) in cursor.fetchall() if key is not None})
            return [cls.locked_with_facts(key) for key in keys]
        users_sql, users_params = users
        quote = connection.ops.quote_name
        of_users = [
            selecting(model, f"{quote(model._meta.get_field('user').column)} IN ({users_sql})",
                      users_params)
            for model in (Payment, Subscription)
        ]  # fmt: skip
        memberships, payments, subscriptions = read_all(
            [_locking_memberships(users_sql, users_params), *of_users]
        )
        facts: dict[Any, Facts] = {m.user_id: ([], []) for m in memberships}
        for payment in payments:
            if payment.user_id in facts:
                facts[payment.user_id][0].append(payment)
        for subscription in subscriptions:
            if subscription.user_id in facts:
                facts[subscription.user_id][1].append(subscription)
        return [(m, facts[m.user_id]) for m in sorted(memberships, key=lambda m: m.user_id)]

    @classmethod
    def refresh(
        cls,
        user_id: int,
        *,
        event: WebhookEvent | None = None,
        staff: Any = None,
        reason: str = "",
    ) -> "Membership":
        """Lock the user's membership (once) and re-derive it from their facts."""
        # No savepoint of its own: inside a handler, dispatch undoes everything if anything
        # fails (its handlers' savepoint, or its whole transaction).
        with transaction.atomic(savepoint=False):
            membership, facts = cls.locked_with_facts(user_id)
            membership.rederive(facts, event=event, staff=staff, reason=reason)
        return membership

    @classmethod
    def override(
        cls,
        user_id: int,
        kind: str,
        *,
        staff: Any,
        reason: str,
        until: datetime | None = None,
        plan: str = "",
    ) -> "Membership":
        """Staff grant (or extend) access until a date, or revoke it, whatever the facts say.

        The newest override stands until a newer one; a grant never shortens what Stripe's
        facts already give. The change is recorded with the staff user and the reason. One
        lock of the membership covers the override and the re-derivation.
        """
        if not reason.strip():
            raise ValueError("a reason is required")
        if kind == StaffOverride.Kind.GRANT and until is None and plan != LIFETIME:
            raise ValueError("a grant needs an end date, unless it is lifetime")
        if kind == StaffOverride.Kind.REVOKE:
            until = timezone.now()  # access ends now
        with transaction.atomic():
            membership, facts = cls.locked_with_facts(user_id)
            membership.overrides.create(
                kind=kind, until=until, plan=plan, staff=staff, reason=reason.strip()
            )
            membership.overridden = True  # as StaffOverride.save() just stored it
            membership.rederive(facts, staff=staff, reason=reason.strip())
        return membership

    def rederive(
        self,
        facts: "Facts",
        *,
        event: WebhookEvent | None = None,
        staff: Any = None,
        reason: str = "",
    ) -> bool:
        """Re-derive access from the user's facts and record the change, if any.

        The caller holds this membership's row lock and read `facts` after it
        (`locked_with_facts`), so a concurrent event that changed other facts has either
        committed (and is seen) or waits for this one.
        """
        payments, subscriptions = facts
        derived = access.derive(
            payments,
            subscriptions,
            grace=timedelta(days=app_settings.MEMBERSHIP_GRACE_DAYS),
            refund_revokes=app_settings.MEMBERSHIP_REFUND_REVOKES,
            inquiry_suspends=app_settings.MEMBERSHIP_SUSPEND_ON_INQUIRY,
        )
        # `overridden` is as of after the lock: the locking statement returns the row as the
        # transaction that held it left it, and an override sets it under the same lock. So
        # False means no override exists, and True means read them now, after the lock.
        override = self.overrides.order_by("-at", "-pk").first() if self.overridden else None
        if override is not None:
            derived = access.overridden(derived, override.kind, override.until, override.plan)
        return self.apply(derived, event=event, staff=staff, reason=reason)

    def apply(
        self, derived: access.Access, *, event: WebhookEvent | None, staff: Any, reason: str
    ) -> bool:
        before = self.state()
        now = timezone.now()
        was_member = self.grants_access(now)
        self.status, self.plan = derived.status, derived.plan
        self.access_until = derived.access_until
        self.subscription_id = derived.subscription_id
        self.cancel_at_period_end = derived.cancel_at_period_end
        after = self.state()
        if before == after:
            return False
        change = MembershipChange(
            membership=self,
            before=before,
            after=after,
            event=event,
            staff=staff,
            reason=reason or (event.type if event else ""),
        )
        self._save_with(change)
        if not membership_changed.has_listeners(Membership):
            return True  # nobody to tell: no need to read the user
        send_on_commit(
            membership_changed,
            Membership,
            user=self.user,
            membership=self,
            change=change,
            before=before,
            after=after,
            was_member=was_member,
            is_member=self.grants_access(now),
            cause="staff" if staff is not None else "event",
            event=event,
            staff=staff,
        )
        return True

    def _save_with(self, change: "MembershipChange") -> None:
        """This membership's UPDATE and its history row: one round trip where the driver
        sends both in one query (inbox.statements), written out. Through `save()` when a
        receiver listens to either model's save signals, so a host's receivers still run."""
        if statements.heard(Membership, MembershipChange):
            self.save()
            change.save()
            return
        with connection.cursor() as cursor:
            statements.send(cursor, [statements.update(self), statements.insert(change)])
            (change.pk,) = cursor.fetchone()
        change._state.adding, change._state.db = False, connection.alias


def _locking_memberships(users_sql: str, users_params: list[Any]) -> Read:
    """Create or lock the memberships of the users `users_sql` selects, in key order, and
    return them (`Membership.locked_with_facts_of`)."""
    meta = Membership._meta
    quote = connection.ops.quote_name
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    template = Membership()
    values, params = [], []
    for field in fields:
        if field.attname == "user_id":
            values.append("touched.user_id")
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(template, True), connection))
    user = quote(meta.get_field("user").column)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM ({users_sql}) AS touched (user_id) "
        f"WHERE touched.user_id IS NOT NULL ORDER BY touched.user_id "
        f"ON CONFLICT ({user}) DO UPDATE SET {user} = EXCLUDED.{user}"
    )
    return returning(Membership, sql, [*params, *users_params])


class MembershipChange(models.Model):
    """One change of a membership: what it was, what it became, and who or what caused it."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField()
    after = models.JSONField()
    # prune_webhook_events keeps events that changes point to; SET_NULL is the safety net
    # for any other deletion: history must never go with an event.
    event = models.ForeignKey(
        WebhookEvent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="membership_changes",
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = FittedCharField(max_length=255, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return self.describe_effect()

    def describe_effect(self) -> str:
        """`none → active, access until 2 Jan 2027`, in the admin's words."""
        return f"membership of {self.membership.user}: {state_change(self.before, self.after)}"


def state_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What changed between two `Membership.state()`s, in words: `none → active, access
    until 2 Jan 2027 16:26:05 UTC` or `still active, access until ... (was ...)`."""
    status, until = after.get("status") or "none", _stamp(after.get("access_until"))
    was_until = _stamp(before.get("access_until"))
    # No end means lifetime only while access is granted; otherwise there is nothing to say.
    end = when(until, "no end") if until or status in Membership.GRANTING else ""
    if before.get("status") == after.get("status"):
        text = f"still {status}" + (f", access until {end}" if end else "")
        return text + (f" (was {when(was_until, 'no end')})" if until != was_until else "")
    text = f"{before.get('status') or 'none'} → {status}"
    return text + (f", access until {end}" if end else "")


def _stamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StaffOverride(models.Model):
    """A staff decision about one membership: it outranks the Stripe facts until a newer one."""

    class Kind(models.TextChoices):
        GRANT = access.GRANT, "grant or extend"
        REVOKE = access.REVOKE, "revoke"

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="overrides")
    kind = models.CharField(max_length=8, choices=Kind)
    until = models.DateTimeField(null=True, blank=True, help_text="Grants: empty for lifetime.")
    plan = models.CharField(max_length=32, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=255)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.until or ''} by {self.staff}: {self.reason}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Also flag the membership as overridden (in the same transaction, taking its row
        lock if the flag was not set): a refresh reads overrides only when the flag, read
        after its own lock, says so. Saving is the only way to add one (no bulk_create)."""
        super().save(*args, **kwargs)
        Membership.objects.filter(pk=self.membership_id, overridden=False).update(overridden=True)
