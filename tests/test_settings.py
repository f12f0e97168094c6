import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from bootwebhooks.env import env_bool, env_int, env_list
from tests.webhooks import make_event, post_event

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "hooks.example.com",
    "STRIPE_WEBHOOK_SECRETS": "whsec_prod_0123456789abcdef",
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_env_bool_refuses_what_it_cannot_read(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env_bool("X_FLAG") is True


def test_env_int_refuses_what_it_cannot_read(monkeypatch):
    monkeypatch.setenv("X_INT", "300s")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    monkeypatch.delenv("X_INT")
    assert env_int("X_INT", 7) == 7


def test_env_list_splits_on_commas_for_secret_rolls(monkeypatch):
    monkeypatch.setenv("X_LIST", " whsec_new , whsec_old,, ")
    assert env_list("X_LIST") == ["whsec_new", "whsec_old"]


def test_a_missing_secret_is_a_check_error_with_a_hint(settings):
    settings.STRIPE_WEBHOOK_SECRETS = []
    with pytest.raises(SystemCheckError, match=r"inbox\.E001[\s\S]*HINT"):
        call_command("check")


def test_a_non_positive_tolerance_is_a_check_error(settings):
    settings.STRIPE_WEBHOOK_TOLERANCE = 0
    with pytest.raises(SystemCheckError, match=r"inbox\.E003"):
        call_command("check")


def test_an_api_key_given_as_secret_is_a_warning(settings, capsys):
    settings.STRIPE_WEBHOOK_SECRETS = ["sk_live_oops"]
    call_command("check")
    assert "inbox.W002" in capsys.readouterr().err


def test_manage_py_refuses_to_start_without_a_secret():
    result = run(["manage.py", "check"])
    assert result.returncode != 0
    assert "inbox.E001" in result.stderr
    assert "HINT" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_development_defaults():
    result = run(["manage.py", "check", "--deploy"], STRIPE_WEBHOOK_SECRETS="whsec_x")
    assert "security.W009" in result.stderr  # the default SECRET_KEY


@pytest.mark.django_db
def test_the_webhook_is_never_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert post_event(client, make_event()).status_code == 200
    assert post_event(client, make_event(), url="/webhooks/stripe").status_code == 200
    assert client.get("/api/events/evt_1/").status_code == 301


def test_database_connections_are_kept_for_ten_minutes_unless_asked_otherwise(monkeypatch):
    from bootwebhooks.settings import _database

    monkeypatch.delenv("DATABASE_CONN_MAX_AGE", raising=False)
    assert _database("postgres://u@h:5432/db")["CONN_MAX_AGE"] == 600
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "0")  # PgBouncer in transaction mode
    assert _database("postgres://u@h:5432/db")["CONN_MAX_AGE"] == 0


def test_connection_health_checks_are_off_unless_asked_for(monkeypatch):
    from bootwebhooks.settings import _database

    assert _database("postgres://u@h:5432/db")["CONN_HEALTH_CHECKS"] is False
    monkeypatch.setenv("DATABASE_CONN_HEALTH_CHECKS", "1")
    assert _database("postgres://u@h:5432/db")["CONN_HEALTH_CHECKS"] is True


def test_the_demo_reads_the_mode_and_email_matching_from_the_environment():
    script = (
        "import django; django.setup(); from bootwebhooks.conf import app_settings as s; "
        "print(s.STRIPE_LIVEMODE, s.MEMBERSHIP_MATCH_EMAIL, s.MEMBERSHIP_ONE_OFF_PLAN or '-')"
    )
    settings_module = {"DJANGO_SETTINGS_MODULE": "bootwebhooks.settings"}

    production = run(["-c", script], **PRODUCTION, **settings_module)
    demo = run(["-c", script], DJANGO_DEBUG="1", **settings_module)
    chosen = run(["-c", script], **PRODUCTION, **settings_module, STRIPE_LIVEMODE="0",
                 MEMBERSHIP_MATCH_EMAIL="off")  # fmt: skip

    assert production.stdout.split() == ["True", "verified", "-"], production.stderr
    assert demo.stdout.split() == ["False", "any", "-"], demo.stderr
    assert chosen.stdout.split() == ["False", "off", "-"], chosen.stderr


def test_a_setting_is_read_again_after_django_says_it_changed(settings):
    """app_settings normalises a value once (a duplicate delivery reads seven) and forgets them
    all on Django's `setting_changed`, so override_settings and this fixture still work."""
    from django.test import override_settings

    from bootwebhooks.conf import app_settings

    settings.STRIPE_WEBHOOK_SECRETS = "whsec_one, whsec_two"
    assert app_settings.STRIPE_WEBHOOK_SECRETS == ["whsec_one", "whsec_two"]
    with override_settings(STRIPE_WEBHOOK_SECRETS=["whsec_three"]):
        assert app_settings.STRIPE_WEBHOOK_SECRETS == ["whsec_three"]
    assert app_settings.STRIPE_WEBHOOK_SECRETS == ["whsec_one", "whsec_two"]
    # A number or a string is kept as a plain attribute once read: forgotten all the same.
    settings.MEMBERSHIP_GRACE_DAYS = "5"
    assert app_settings.MEMBERSHIP_GRACE_DAYS == 5
    with override_settings(MEMBERSHIP_GRACE_DAYS=9):
        assert app_settings.MEMBERSHIP_GRACE_DAYS == 9
    assert app_settings.MEMBERSHIP_GRACE_DAYS == 5
    # STRIPE_LIVEMODE follows DEBUG when unset: a change of DEBUG changes it too.
    settings.STRIPE_LIVEMODE = None
    settings.DEBUG = False
    assert app_settings.STRIPE_LIVEMODE is True
    settings.DEBUG = True
    assert app_settings.STRIPE_LIVEMODE is False


def test_a_caller_changing_a_list_setting_changes_nobody_elses(settings):
    from bootwebhooks.conf import app_settings

    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_one"]
    app_settings.STRIPE_WEBHOOK_SECRETS.append("whsec_planted")
    app_settings.MEMBERSHIP_PLAN_PRICES["price_planted"] = "gold"
    assert app_settings.STRIPE_WEBHOOK_SECRETS == ["whsec_one"]
    assert "price_planted" not in app_settings.MEMBERSHIP_PLAN_PRICES


def test_the_mode_follows_debug_even_when_debug_is_set_without_the_signal(settings):
    """Django's test runner sets DEBUG directly, without `setting_changed`: STRIPE_LIVEMODE,
    which follows DEBUG when unset, is therefore never kept between reads."""
    from django.conf import settings as django_settings

    from bootwebhooks.conf import app_settings

    settings.STRIPE_LIVEMODE = None
    settings.DEBUG = False
    assert app_settings.STRIPE_LIVEMODE is True
    django_settings.DEBUG = True  # as setup_test_environment does: no signal
    assert app_settings.STRIPE_LIVEMODE is False
