import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.memberships.models import Membership, MembershipChange
from bootwebhooks.memberships.services import link_customer
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests.stripe_events import CUSTOMER, MID_P1, P1_END, deliver, membership_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", is_staff=True)


def test_client_reference_id_wins_over_everything(client, student, django_user_model):
    other = django_user_model.objects.create_user("grace")
    deliver(
        client,
        "checkout_session_completed",
        obj__client_reference_id=str(other.pk),
        obj__metadata={"user_id": str(student.pk)},
    )

    assert StripeCustomer.objects.get(customer_id=CUSTOMER).user == other


def test_metadata_user_id_comes_before_the_email(client, student, django_user_model):
    other = django_user_model.objects.create_user("grace")
    invoice = {"metadata": {"user_id": str(other.pk)}, "subscription": "sub_1TxSub0Acme0000001"}
    deliver(
        client,
        "invoice_paid",
        obj__parent={"type": "subscription_details", "subscription_details": invoice},
    )

    assert Payment.objects.get().user == other
    assert is_member(other, at=MID_P1)
    assert not Membership.objects.filter(user=student).exists()


def test_an_already_linked_customer_comes_before_the_email(client, student, django_user_model):
    other = django_user_model.objects.create_user("grace")
    StripeCustomer.objects.create(customer_id=CUSTOMER, user=other)
    deliver(client, "invoice_paid")

    assert Payment.objects.get().user == other


def test_an_ambiguous_email_matches_nobody(client, student, django_user_model):
    django_user_model.objects.create_user("ada2", email=student.email.upper())
    deliver(client, "invoice_paid")

    assert Payment.objects.get().user is None


def test_an_unmatched_payment_is_recorded_and_the_event_processed(client):
    answer = deliver(client, "invoice_paid")

    assert answer["status"] == "processed"
    payment = Payment.objects.get()
    assert (payment.user, payment.status, payment.amount) == (None, "succeeded", 1500)
    assert not Membership.objects.exists()


def test_linking_the_customer_applies_the_waiting_grants(client, django_user_model, staff):
    deliver(client, "customer_subscription_created")
    deliver(client, "invoice_paid", obj__customer_email="someone.else@example.com")
    user = django_user_model.objects.create_user("late")

    link_customer(CUSTOMER, user, by_user=staff)

    membership = membership_of(user)
    assert (membership.status, membership.access_until) == ("active", P1_END)
    change = MembershipChange.objects.get(membership=membership)
    assert (change.staff, change.event, change.before["status"]) == (staff, None, "none")
    assert StripeCustomer.objects.get(customer_id=CUSTOMER).linked_by == staff


def test_relinking_moves_access_from_the_previous_user(client, student, django_user_model, staff):
    deliver(client, "invoice_paid")
    other = django_user_model.objects.create_user("grace")

    link_customer(CUSTOMER, other, by_user=staff)

    assert is_member(other, at=MID_P1)
    assert not is_member(student, at=MID_P1)
    assert membership_of(student).status == "none"


def test_a_deleted_customer_is_unlinked(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_deleted")

    customer = StripeCustomer.objects.get(customer_id=CUSTOMER)
    assert customer.user is None and customer.deleted_at is not None
    # Access already paid for stays; the subscription's own events end it.
    assert is_member(student, at=MID_P1)


def test_later_events_of_a_deleted_customer_do_not_relink_it(client, student):
    deliver(client, "customer_deleted")
    deliver(client, "invoice_paid")

    assert StripeCustomer.objects.get(customer_id=CUSTOMER).user is None
    assert Payment.objects.get().user == student  # its own email still says whose it is
