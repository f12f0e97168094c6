#!/usr/bin/env python
import os
import sys


def main(argv: list[str]) -> None:
    """Django's command line, with a configuration error as one line and a non-zero exit.

    runserver gets the system checks here, before it starts: it runs them itself in a thread
    of its autoreloader, where an error prints a traceback and the process waits for a file to
    change instead of exiting.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bootwebhooks.settings")
    import django
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        django.setup()
        if argv[1:2] == ["runserver"]:
            errors = [m for m in checks.run_checks() if m.is_serious()]
            if errors:
                raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg}" for e in errors))
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        sys.exit("configuration error: " + " ".join(str(exc).split()))


if __name__ == "__main__":
    main(sys.argv)
