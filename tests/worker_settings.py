from bootwebhooks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.worker_app"]  # noqa: F405
