import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.skipif(settings.STRIPE_MIRROR, reason="the mirror is on")
@pytest.mark.django_db
def test_reconcile_says_in_one_line_how_to_switch_the_mirror_on():
    with pytest.raises(CommandError, match=r"^the Stripe mirror is off: set STRIPE_MIRROR=1"):
        call_command("reconcile_memberships")
