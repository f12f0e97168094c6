"""System checks for what a host site must get right, each with the exact fix in its hint."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import Client

from bootwebhooks.inbox.checks import (
    check_webhook_not_redirected,
    check_webhook_settings,
    sqlite_write_mode,
)
from tests.webhooks import make_event, post_event

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
IMMEDIATE_QUEUE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def ids(messages) -> list[str]:
    return [message.id for message in messages]


@pytest.mark.django_db
def test_a_string_secret_is_one_secret_and_signs_like_one(client, settings):
    """Stripe gives an endpoint one signing secret, whsec_... (a string is the natural way to
    write it): it must verify that secret's signatures, and nothing signed with a piece."""
    settings.STRIPE_WEBHOOK_SECRETS = "whsec_abc"

    assert ids(check_webhook_settings()) == []
    assert post_event(client, make_event(), secret="whsec_abc").status_code == 200
    assert post_event(client, make_event(), secret="w").status_code == 400


def test_a_secret_of_the_wrong_type_is_an_error_naming_the_setting(settings):
    settings.STRIPE_WEBHOOK_SECRETS = 123

    [error] = check_webhook_settings()
    assert error.id == "inbox.E000"
    assert "STRIPE_WEBHOOK_SECRETS must be a list of strings" in error.msg


def test_a_site_that_never_set_a_secret_gets_e001(settings):
    del settings.STRIPE_WEBHOOK_SECRETS

    assert ids(check_webhook_settings()) == ["inbox.E001"]


def test_queued_mode_without_a_database_queue_is_an_error(settings):
    settings.WEBHOOK_PROCESSING = "queued"
    settings.TASKS = IMMEDIATE_QUEUE

    [error] = check_webhook_settings()
    assert error.id == "inbox.E006"
    assert "ImmediateBackend" in error.msg
    assert "django_tasks_db.DatabaseBackend" in error.hint

    settings.TASKS = DATABASE_QUEUE
    assert ids(check_webhook_settings()) == []


def test_the_worker_explains_a_missing_queue_in_one_line(settings):
    settings.TASKS = IMMEDIATE_QUEUE

    with pytest.raises(CommandError, match=r"cannot run the webhook worker: .*ImmediateBackend"):
        call_command("run_webhook_worker", skip_checks=True)


@pytest.mark.django_db
def test_an_ssl_redirect_that_catches_the_webhook_is_an_error_with_the_pattern(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = []
    assert post_event(Client(), make_event()).status_code == 301  # what Stripe would get

    [error] = check_webhook_not_redirected()
    assert error.id == "inbox.E007"
    pattern = error.hint.split("Add ", 1)[1].split(" to SECURE_REDIRECT_EXEMPT")[0]
    assert pattern == "r'^webhooks/stripe/?$'"

    settings.SECURE_REDIRECT_EXEMPT = [eval(pattern)]  # noqa: S307  (our own hint)
    assert check_webhook_not_redirected() == []
    assert post_event(Client(), make_event()).status_code == 200  # middleware built anew


def test_sqlite_without_immediate_transactions_is_reported_with_the_options():
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "reports": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        },
    }

    [warning] = sqlite_write_mode(databases)
    assert warning.id == "inbox.W008" and "'default'" in warning.msg
    assert '"OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20}' in warning.hint


def test_check_fails_the_command_line_for_a_missing_secret(settings):
    del settings.STRIPE_WEBHOOK_SECRETS

    with pytest.raises(SystemCheckError, match=r"inbox\.E001"):
        call_command("check")


@pytest.mark.django_db
def test_the_api_answers_401_under_a_site_s_own_drf_defaults(client, settings):
    """A host whose DRF default is session authentication alone would answer 403; the API
    views set their own authentication, so a caller without credentials is told to log in."""
    settings.REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    }

    for url in ("/api/events/evt_1/", "/api/memberships/1/"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"
