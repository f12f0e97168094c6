#!/usr/bin/env bash
# The apps as a Django team adopts them (docs/INSTALL.md): build the wheel, install it (not
# editable) into a fresh virtualenv, generate a host site with an email-login, UUID-keyed user
# model and its own app labelled `payments`, configure only what docs/INSTALL.md requires,
# migrate on PostgreSQL, deliver a signed signup over HTTP, and check the member and the admin.
#
#   .ci/host_site.sh            # database bootwebhooks_host_site on 127.0.0.1:5432
#   HOST_SITE_DB=mine .ci/host_site.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
db="${HOST_SITE_DB:-bootwebhooks_host_site}"
pg="postgres://root@127.0.0.1:5432"
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== build the wheel"
# From a copy of the files git knows (tracked or not ignored), so the build leaves nothing in
# the checkout and nothing ignored (a local db.sqlite3, .venv) can slip in.
mkdir "$work/src"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
    (cd "$repo" && xargs -0 cp --parents -t "$work/src" 2>/dev/null || true)
python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src" 2>"$work/pip.log" ||
    { cat "$work/pip.log"; exit 1; }
wheel="$(ls "$work"/dist/bootwebhooks-*.whl)"
unzip -Z1 "$wheel" >"$work/wheel.txt"
grep -q "templates/admin/bootwebhooks_inbox/webhookevent/change_form.html" "$work/wheel.txt"
grep -q "bootwebhooks/memberships/migrations/0001_initial.py" "$work/wheel.txt"
if grep -E "bootwebhooks/(settings|urls|wsgi)\.py|seed_demo|tests/|bench/" "$work/wheel.txt"; then
    echo "the wheel carries the demo site, tests or bench" >&2
    exit 1
fi

echo "== install it into a fresh virtualenv"
python3 -m venv "$work/venv"
bin="$work/venv/bin"
"$bin/pip" install --quiet "$wheel[postgres]" 2>"$work/pip.log" || { cat "$work/pip.log"; exit 1; }
cd "$work"  # never the checkout: the installed package must be the one imported

echo "== generate the host site"
mkdir site
"$bin/django-admin" startproject host site
cd site
"$bin/python" manage.py startapp accounts
"$bin/python" manage.py startapp payments
cp "$repo/tests/host_site/models_accounts.py" accounts/models.py
cp "$repo/tests/host_site/models_payments.py" payments/models.py
# Only what docs/INSTALL.md says is required (and the host's own user model and database).
cat >> host/settings.py <<PY

INSTALLED_APPS += [
    "accounts",
    "payments",
    "rest_framework",
    "bootwebhooks.inbox",
    "bootwebhooks.payments",
    "bootwebhooks.memberships",
]
AUTH_USER_MODEL = "accounts.User"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "$db",
                         "HOST": "127.0.0.1", "PORT": "5432", "USER": "root"}}
STRIPE_WEBHOOK_SECRETS = "whsec_host_site_0123456789"
PY
cat > host/urls.py <<'PY'
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("bootwebhooks.inbox.urls")),
    path("", include("bootwebhooks.memberships.urls")),
]
PY
"$bin/python" - <<PY
import psycopg
with psycopg.connect("$pg/postgres", autocommit=True) as conn:
    conn.execute('DROP DATABASE IF EXISTS "$db"')
    conn.execute('CREATE DATABASE "$db"')
PY

echo "== check, migrate, roles"
"$bin/python" manage.py check --fail-level WARNING
"$bin/python" manage.py makemigrations accounts payments
"$bin/python" manage.py migrate --no-input
"$bin/python" manage.py create_staff_roles
"$bin/python" manage.py shell -c \
    "from accounts.models import User; User.objects.create_user('student@example.com', 'pw')"

echo "== the WSGI module of step 4 loads"
cat > host/wsgi.py <<'PY'
import os

from django.core.wsgi import get_wsgi_application

from bootwebhooks.inbox.checks import checked_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host.settings")
application = checked_application(get_wsgi_application)
PY
"$bin/python" -c "import host.wsgi"

echo "== deliver a signed signup over HTTP"
"$bin/python" manage.py runserver --noreload "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
    "$bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz')" \
        2>/dev/null && break
    sleep 0.2
done
url="http://127.0.0.1:$port/webhooks/stripe/"
for type in checkout.session.completed customer.subscription.created invoice.paid; do
    "$bin/python" manage.py send_test_webhook "$type" --user student@example.com --key signup \
        --url "$url"
done

echo "== the member, the admin and the API"
"$bin/python" manage.py shell <"$repo/tests/host_site/verify_site.py"
echo "host site: ok"
