"""Email matching that cannot be hijacked (MEMBERSHIP_MATCH_EMAIL).

Anyone can type any address into Stripe Checkout (`customer_details.email`) or an invoice's
`customer_email`, so matching a payer to whoever holds that address on the site hands their
membership to the first person to sign up with it. `verified` (the default) matches only an
address the site has verified; `any` is the old behaviour; `off` never matches by email.
"""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests.stripe_events import CUSTOMER, EMAIL, MID_P1, deliver

pytestmark = pytest.mark.django_db
VERIFIED: set[tuple[int, str]] = set()


def is_verified(user, email: str) -> bool:
    """The site's own record of verified addresses (MEMBERSHIP_EMAIL_VERIFIED names this)."""
    return (user.pk, email.lower()) in VERIFIED


@pytest.fixture
def verified_mode(settings):
    settings.MEMBERSHIP_MATCH_EMAIL = "verified"
    settings.MEMBERSHIP_EMAIL_VERIFIED = f"{__name__}.is_verified"
    VERIFIED.clear()
    yield
    VERIFIED.clear()


def sign_up(django_user_model, email: str = EMAIL.upper()):
    return django_user_model.objects.create_user("late", email=email)


def test_a_later_sign_up_with_an_unverified_address_takes_nothing(
    client, django_user_model, verified_mode
):
    deliver(client, "invoice_paid")  # the payer has no account yet: unmatched
    squatter = sign_up(django_user_model)
    deliver(client, "invoice_paid__renewal")  # the customer's stored email now finds them

    assert StripeCustomer.objects.get(customer_id=CUSTOMER).user is None
    assert set(Payment.objects.values_list("user", flat=True)) == {None}
    assert not is_member(squatter, at=MID_P1)


def test_a_verified_address_is_matched(client, django_user_model, verified_mode):
    deliver(client, "invoice_paid")
    owner = sign_up(django_user_model)
    VERIFIED.add((owner.pk, EMAIL))
    deliver(client, "invoice_paid__renewal")

    assert StripeCustomer.objects.get(customer_id=CUSTOMER).user == owner
    assert set(Payment.objects.values_list("user", flat=True)) == {owner.pk}


def test_verified_with_nothing_to_say_which_matches_nobody(client, student, settings):
    settings.MEMBERSHIP_MATCH_EMAIL = "verified"
    settings.MEMBERSHIP_EMAIL_VERIFIED = ""
    deliver(client, "invoice_paid")

    assert Payment.objects.get().user is None


def test_any_matches_the_address_as_before(client, student, settings):
    settings.MEMBERSHIP_MATCH_EMAIL = "any"
    deliver(client, "invoice_paid")

    assert Payment.objects.get().user == student


def test_off_never_matches_by_email(client, student, settings, verified_mode):
    settings.MEMBERSHIP_MATCH_EMAIL = "off"
    VERIFIED.add((student.pk, EMAIL))
    deliver(client, "invoice_paid")

    assert Payment.objects.get().user is None


def test_off_still_honours_the_checkouts_own_reference(client, student, settings):
    settings.MEMBERSHIP_MATCH_EMAIL = "off"
    deliver(client, "checkout_session_completed", obj__client_reference_id=str(student.pk))

    assert StripeCustomer.objects.get(customer_id=CUSTOMER).user == student


def test_the_default_is_verified(settings):
    from bootwebhooks.conf import app_settings

    del settings.MEMBERSHIP_MATCH_EMAIL
    assert app_settings.MEMBERSHIP_MATCH_EMAIL == "verified"


@pytest.mark.parametrize(
    ("setting", "value", "check"),
    [
        ("MEMBERSHIP_MATCH_EMAIL", "sometimes", "memberships.E002"),
        ("MEMBERSHIP_EMAIL_VERIFIED", "tests.nowhere.is_verified", "memberships.E003"),
        ("MEMBERSHIP_PLAN_PRICES", {"price_1TxAcme": "weekly"}, "memberships.E001"),
        ("MEMBERSHIP_ONE_OFF_PLAN", "forever", "memberships.E001"),
    ],
)
def test_misconfiguration_fails_the_checks(settings, setting, value, check):
    setattr(settings, setting, value)

    with pytest.raises(SystemCheckError, match=check.replace(".", r"\.")):
        call_command("check")
