"""What the apps assume about the site they are installed in: as little as possible. The
generated host site in .ci/host_site.sh runs the whole path with an email-login, UUID-keyed
user model; these tests pin the pieces that decide it."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from bootwebhooks.inbox import users

ROOT = Path(__file__).resolve().parent.parent

# A site with only the required dependencies installed (the extras' modules cannot be
# imported), the required apps and settings, on SQLite, in inline mode: a signed delivery is
# processed, /healthz answers, /metrics says it needs its extra.
BARE_SITE = """
import importlib.abc, json, sys, time

EXTRAS = {"psycopg", "psycopg2", "djstripe", "django_tasks", "django_tasks_db",
          "prometheus_client", "drf_spectacular"}

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in EXTRAS:
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, NotInstalled())

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
        "django.contrib.sessions", "django.contrib.messages", "rest_framework",
        "bootwebhooks.inbox", "bootwebhooks.payments", "bootwebhooks.memberships",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:",
                           "OPTIONS": {"transaction_mode": "IMMEDIATE"}}},
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                "OPTIONS": {"context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages"]}}],
    ROOT_URLCONF="bootwebhooks.inbox.urls",
    SECRET_KEY="bare-site-" + "x" * 50,
    STRIPE_WEBHOOK_SECRETS="whsec_bare_site",
    STRIPE_LIVEMODE=False,  # the sample is a test-mode event; DEBUG is off
)
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment

from bootwebhooks.inbox import samples
from bootwebhooks.inbox.verify import signature_header

setup_test_environment()
call_command("migrate", verbosity=0)
call_command("check", fail_level="WARNING")
body = json.dumps(samples.build("invoice.paid", key="bare", user_id=None, email="a@b.c",
                                now=int(time.time()))).encode()
signature = signature_header(body, "whsec_bare_site", int(time.time()))
client = Client()
posted = client.post("/webhooks/stripe/", body, content_type="application/json",
                     HTTP_STRIPE_SIGNATURE=signature)
print(posted.status_code, posted.json()["status"], client.get("/healthz").status_code,
      client.get("/metrics").status_code)
"""


def test_a_site_without_the_extras_receives_events():
    result = subprocess.run(
        [sys.executable, "-c", BARE_SITE], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["200", "processed", "200", "404"]


class EmailLogin:
    USERNAME_FIELD = "email"

    @staticmethod
    def get_email_field_name() -> str:
        return "email"


class NamedLogin:
    USERNAME_FIELD = "handle"

    @staticmethod
    def get_email_field_name() -> str:
        return "mail"


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (EmailLogin, ["user__email"]),
        (NamedLogin, ["user__mail", "user__handle"]),
    ],
)
def test_admin_search_goes_through_the_login_and_email_fields(monkeypatch, model, fields):
    monkeypatch.setattr(users, "get_user_model", lambda: model)

    assert users.search_fields("user") == fields


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["abc", "0", "-1", "1.5", "99999999999999999999", str(uuid.uuid4())]
)
def test_a_user_key_that_cannot_be_one_is_404_not_500(client, django_user_model, value):
    reader = django_user_model.objects.create_user("platform")
    reader.user_permissions.add(Permission.objects.get(codename="view_membership"))
    token = Token.objects.create(user=reader).key

    response = client.get(
        f"/api/memberships/{value}/", secure=True, HTTP_AUTHORIZATION=f"Token {token}"
    )

    assert response.status_code == 404


@pytest.mark.django_db
def test_find_user_takes_a_login_name_an_email_or_a_key(django_user_model):
    ada = django_user_model.objects.create_user("ada", email="Ada@Example.com")
    django_user_model.objects.create_user("bob", email="bob@example.com")

    assert users.find_user("ada") == ada
    assert users.find_user("ada@example.com") == ada
    assert users.find_user(str(ada.pk)) == ada
    assert users.find_user("nobody") is None
