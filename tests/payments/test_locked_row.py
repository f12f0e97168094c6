"""locked_row: get or create a row and hold its lock, without savepoints or a lost update."""

import threading

import pytest
from django.db import connection, transaction

from memberships.models import Membership, StaffOverride
from payments.models import Payment, StripeCustomer, locked_row


@pytest.mark.django_db
def test_a_missing_row_comes_back_saved_as_a_select_would_return_it():
    with transaction.atomic():
        made = locked_row(Payment, stripe_id="in_new")
        again = locked_row(Payment, stripe_id="in_new")

    stored = Payment.objects.get(stripe_id="in_new")
    assert made.pk == again.pk == stored.pk
    assert not made._state.adding and made._state.db == "default"
    assert made.updated_at == stored.updated_at  # auto_now filled in, as by save()
    made.amount = 1500
    made.save()  # an UPDATE of that row, not a second INSERT
    assert Payment.objects.get().amount == 1500


@pytest.mark.django_db
def test_a_membership_knows_whether_it_has_overrides_without_asking_again(
    student, django_user_model
):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    with transaction.atomic():
        created = Membership.locked_for(student.pk)
    assert not getattr(created, "has_overrides", False)  # just made: none, and no query

    StaffOverride.objects.create(
        membership=created, kind=StaffOverride.Kind.REVOKE, staff=staff, reason="fraud"
    )
    with transaction.atomic():
        assert Membership.locked_for(student.pk).has_overrides
        assert Membership.refresh(student.pk).status == Membership.Status.REVOKED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_created_at_the_same_moment_is_locked_not_duplicated_nor_overwritten():
    """The second transaction's INSERT waits on the first's uncommitted row, does nothing once
    it commits, and locks and returns that row with the first's changes."""
    inserted, release, second = threading.Event(), threading.Event(), {}

    def first() -> None:
        try:
            with transaction.atomic():
                customer = locked_row(StripeCustomer, customer_id="cus_race")
                inserted.set()
                release.wait(10)
                customer.email = "first@example.com"
                customer.save()
        finally:
            connection.close()

    def then() -> None:
        try:
            with transaction.atomic():
                row = locked_row(StripeCustomer, customer_id="cus_race")
                second["pk"], second["email"] = row.pk, row.email
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert inserted.wait(10)
    two = threading.Thread(target=then)
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting on the first's row, not inserting its own
    release.set()
    one.join(10)
    two.join(10)

    (customer,) = StripeCustomer.objects.filter(customer_id="cus_race")
    assert second == {"pk": customer.pk, "email": "first@example.com"}
