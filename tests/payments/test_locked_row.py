"""locked_row: get or create a row and hold its lock, without savepoints or a lost update."""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bootwebhooks.inbox import statements
from bootwebhooks.memberships.models import Membership, StaffOverride
from bootwebhooks.payments.models import (
    Payment,
    StripeCustomer,
    Subscription,
    locked_or_created,
    locked_row,
    locked_row_then,
)
from tests.locks import wait_for_lock_waiters


@pytest.mark.django_db
def test_a_missing_row_comes_back_saved_as_a_select_would_return_it(django_assert_num_queries):
    with transaction.atomic():
        with django_assert_num_queries(2):  # the SELECT that missed, the INSERT; no re-SELECT
            made, created = locked_or_created(Payment, stripe_id="in_new")
        again, created_again = locked_or_created(Payment, stripe_id="in_new")

    stored = Payment.objects.get(stripe_id="in_new")
    assert (created, created_again) == (True, False)
    assert made.pk == again.pk == stored.pk
    assert not made._state.adding and made._state.db == "default"
    assert made.updated_at == stored.updated_at  # auto_now filled in, as by save()
    made.amount = 1500
    made.save()  # an UPDATE of that row, not a second INSERT
    assert Payment.objects.get().amount == 1500


@pytest.mark.django_db
def test_without_insert_returning_the_row_is_inserted_then_selected(monkeypatch):
    """A database that only reports the last id it made (no RETURNING) must not be trusted
    to say whether this INSERT made the row: the row is selected, locked, instead."""
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    with transaction.atomic():
        made, created = locked_or_created(Payment, stripe_id="in_old_db")
        again, created_again = locked_or_created(Payment, stripe_id="in_old_db")

    assert (created, created_again) == (False, False)
    assert made.pk == again.pk == Payment.objects.get(stripe_id="in_old_db").pk


@pytest.mark.django_db
def test_a_membership_never_overridden_costs_no_override_query_an_overridden_one_reads_them(
    student, django_user_model, django_assert_num_queries
):
    # The lock (or insert) and the reads of payments and subscriptions: one query where the
    # driver hands back each statement's rows (psycopg 3's default), else three.
    together = statements.batching() == statements.EACH_RESULT
    with django_assert_num_queries(1 if together else 3):
        Membership.refresh(student.pk)
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    StaffOverride.objects.create(
        membership=student.bootwebhooks_membership,
        kind=StaffOverride.Kind.REVOKE,
        staff=staff,
        reason="x",
    )

    assert Membership.refresh(student.pk).status == Membership.Status.REVOKED


def while_holding(hold: Callable[[], None], then: Callable[[], None]) -> None:
    """Run `hold` in a transaction of one thread and keep it open until `then`, in a second
    thread, waits on a lock; then commit it and let `then` finish."""
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                hold()
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            then()
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=second)
    two.start()
    wait_for_lock_waiters(1)
    release.set()
    one.join(10)
    two.join(10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_staff_override_committed_while_a_refresh_waited_for_the_lock_applies(
    student, django_user_model
):
    """Read committed: what a SELECT ... FOR UPDATE computes besides the row is as of before
    it waited. The override must be read after the lock, or a staff revoke made while an event
    waited on the membership would be undone by that event."""
    Membership.refresh(student.pk)
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    refreshed = {}

    def staff_revokes() -> None:
        StaffOverride.objects.create(
            membership=Membership.locked_for(student.pk), kind=StaffOverride.Kind.REVOKE,
            staff=staff, reason="chargeback", until=timezone.now(),
        )  # fmt: skip

    def event_refreshes() -> None:
        refreshed["status"] = Membership.refresh(student.pk).status

    while_holding(staff_revokes, event_refreshes)

    assert refreshed == {"status": Membership.Status.REVOKED}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_created_at_the_same_moment_is_locked_not_duplicated_nor_overwritten():
    """The second transaction's INSERT waits on the first's uncommitted row, does nothing once
    it commits, and locks and returns that row with the first's changes."""
    second = {}

    def first_creates() -> None:
        customer = locked_row(StripeCustomer, customer_id="cus_race")
        customer.email = "first@example.com"
        customer.save()

    def then_creates() -> None:
        with transaction.atomic():
            row = locked_row(StripeCustomer, customer_id="cus_race")
            second["pk"], second["email"] = row.pk, row.email

    while_holding(first_creates, then_creates)

    (customer,) = StripeCustomer.objects.filter(customer_id="cus_race")
    assert second == {"pk": customer.pk, "email": "first@example.com"}


@pytest.mark.django_db
def test_locked_row_takes_a_missing_or_an_existing_row_in_one_statement(django_assert_num_queries):
    with transaction.atomic():
        with django_assert_num_queries(1):
            made = locked_row(Payment, stripe_id="in_one")
        made.amount = 700
        made.save()
        with django_assert_num_queries(1):
            again = locked_row(Payment, stripe_id="in_one")

    assert made.pk == again.pk == Payment.objects.get().pk
    assert again.amount == 700 and not again._state.adding
    assert again.updated_at == Payment.objects.get().updated_at  # read back, not made up


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_existing_row_comes_back_as_the_transaction_that_held_it_left_it():
    """The upsert waits on the holder's row lock, then returns the row's newest version: a
    change committed while it waited is neither missed nor overwritten."""
    StripeCustomer.objects.create(customer_id="cus_held")
    second = {}

    def first_changes() -> None:
        customer = locked_row(StripeCustomer, customer_id="cus_held")
        customer.email = "changed@example.com"
        customer.save()

    def then_locks() -> None:
        with transaction.atomic():
            second["email"] = locked_row(StripeCustomer, customer_id="cus_held").email

    while_holding(first_changes, then_locks)

    assert second == {"email": "changed@example.com"}


def paid_invoice(user, stripe_id: str = "in_paid") -> Payment:
    now = timezone.now()
    return Payment.objects.create(
        stripe_id=stripe_id, kind=Payment.Kind.INVOICE, user=user, amount=1500, currency="usd",
        plan="monthly", product="membership", price_ids=["price_monthly"], paid=True,
        period_start=now - timedelta(days=1), period_end=now + timedelta(days=29),
    )  # fmt: skip


def field_values(row) -> dict:
    return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}


@pytest.mark.django_db
def test_locked_row_then_hands_over_the_rows_the_orm_reads(student):
    """The reads that ride with the lock come back as the ORM's own instances: every column
    through its field's converters (a JSON list, aware datetimes), saved, of their database."""
    payment = paid_invoice(student)
    Subscription.objects.create(subscription_id="sub_1", user=student, status="active")

    with transaction.atomic():
        membership, (payments, subscriptions) = locked_row_then(
            Membership,
            [Payment.objects.filter(user=student), Subscription.objects.filter(user=student)],
            user_id=student.pk,
        )

    assert field_values(membership) == field_values(Membership.objects.get(user=student))
    assert [field_values(p) for p in payments] == [field_values(Payment.objects.get())]
    assert payments[0].price_ids == ["price_monthly"] and payments[0].pk == payment.pk
    assert [field_values(s) for s in subscriptions] == [field_values(Subscription.objects.get())]
    assert not payments[0]._state.adding and payments[0]._state.db == "default"


@pytest.mark.postgres
@pytest.mark.batched
@pytest.mark.django_db
def test_locked_row_then_locks_and_reads_in_one_round_trip(student, django_assert_num_queries):
    paid_invoice(student)
    with transaction.atomic(), django_assert_num_queries(1):
        _, (payments,) = locked_row_then(
            Membership, [Payment.objects.filter(user=student)], user_id=student.pk
        )
    assert len(payments) == 1


def users_query(*users) -> tuple[str, list]:
    """A query of these users' keys, as payments.customers.touched_users is (with a NULL)."""
    table = users[0]._meta.db_table
    keys = " UNION ".join(
        ["SELECT NULL"] + [f'SELECT "id" FROM "{table}" WHERE "id" = %s'] * len(users)  # noqa: S608
    )
    return keys, [user.pk for user in users]


@pytest.mark.django_db
def test_the_memberships_of_several_users_come_locked_in_key_order_each_with_its_own_facts(
    student, django_user_model
):
    other = django_user_model.objects.create_user("other", email="other@example.com")
    mine, theirs = paid_invoice(student, "in_mine"), paid_invoice(other, "in_theirs")
    Subscription.objects.create(subscription_id="sub_theirs", user=other, status="active")
    Payment.objects.create(stripe_id="in_nobodys", kind=Payment.Kind.INVOICE)  # no user

    with transaction.atomic():
        locked = Membership.locked_with_facts_of(users_query(other, student))

    assert [m.user_id for m, _ in locked] == sorted([student.pk, other.pk])
    facts = {
        m.user_id: ([p.pk for p in ps], [s.subscription_id for s in ss]) for m, (ps, ss) in locked
    }
    assert facts == {student.pk: ([mine.pk], []), other.pk: ([theirs.pk], ["sub_theirs"])}
    assert Membership.objects.count() == 2
    assert all(field_values(m) == field_values(Membership.objects.get(pk=m.pk)) for m, _ in locked)


def refresh_one(user, other) -> dict:
    return {user.pk: Membership.refresh(user.pk).status}


def refresh_an_events_users(user, other) -> dict:
    refreshed = {}
    with transaction.atomic():
        for membership, facts in Membership.locked_with_facts_of(users_query(user, other)):
            membership.rederive(facts)
            refreshed[membership.user_id] = membership.status
    return refreshed


@pytest.mark.postgres
@pytest.mark.parametrize("refresh", [refresh_one, refresh_an_events_users])
@pytest.mark.django_db(transaction=True)
def test_a_payment_committed_while_a_refresh_waited_for_the_lock_is_read(
    student, django_user_model, refresh
):
    """The facts ride in the lock's query (one user's, or an event's users' locked by one
    statement), but run after it and any wait for it: each statement of a query takes its own
    snapshot. A payment recorded by the transaction that held the membership is in the
    derivation, or the member would lose a paid grant."""
    other = django_user_model.objects.create_user("other", email="other@example.com")
    Membership.refresh(student.pk)
    refreshed = {}

    def other_event_pays() -> None:
        Membership.locked_for(student.pk)
        paid_invoice(student, "in_while_waiting")

    while_holding(other_event_pays, lambda: refreshed.update(refresh(student, other)))

    assert refreshed[student.pk] == Membership.Status.ACTIVE
    assert refreshed.get(other.pk, Membership.Status.NONE) == Membership.Status.NONE
