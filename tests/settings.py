"""The production settings, less what assumes https: tests (and the browser tests' live
server) speak plain http on 127.0.0.1. tests/test_settings.py checks the real values."""

from bootwebhooks.settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
