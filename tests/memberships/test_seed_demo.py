import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.services import is_member

pytestmark = pytest.mark.django_db


def test_it_refuses_to_create_a_known_login_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not get_user_model().objects.filter(username="demo").exists()


def test_it_creates_the_staff_login_and_delivers_signed_samples(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    demo = get_user_model().objects.get(username="demo")
    assert demo.is_staff and demo.check_password("demo")
    assert WebhookEvent.objects.count() >= 4
    assert not WebhookEvent.objects.filter(status__in=["failed", "pending"]).exists()
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000/admin/" in out
    assert re.search(r"student \(id \d+\) is a member \(monthly\) until \d{4}-", out)
    assert re.search(r"ada \(id \d+\) is not a member", out)


def test_running_it_twice_counts_redeliveries_instead_of_duplicating(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert set(WebhookEvent.objects.values_list("delivery_count", flat=True)) == {2}


def test_the_readme_unlocks_ada_with_one_signed_event(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("send_test_webhook", "invoice.paid", "--user", "ada", "--local")
    ada = get_user_model().objects.get(username="ada")
    assert is_member(ada)
