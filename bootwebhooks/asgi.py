"""ASGI entry point, with the same checks as the WSGI one (bootwebhooks/wsgi.py)."""

import os

from django.core.asgi import get_asgi_application

from bootwebhooks.inbox.checks import checked_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bootwebhooks.settings")

application = checked_application(get_asgi_application)
