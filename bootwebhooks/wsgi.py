"""WSGI entry point: `gunicorn bootwebhooks.wsgi:application`.

gunicorn does not run Django's system checks, so the ones that guard the webhook (a secret is
set, the tolerance is sane) run here: a misconfigured worker refuses to boot, in one line, and
gunicorn stops instead of answering webhooks it cannot verify.
"""

import os

from django.core.wsgi import get_wsgi_application

from bootwebhooks.inbox.checks import checked_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bootwebhooks.settings")

application = checked_application(get_wsgi_application)
