#!/usr/bin/env python
import os
import sys


def main(argv: list[str]) -> None:
    """Django's command line, with a configuration error as one line and a non-zero exit,
    whichever command meets it: a setting that cannot be read, a system check error, or a
    database that cannot be reached or used (a traceback only with --traceback).

    `check` keeps Django's full report (warnings and hints included): reporting is its job.
    runserver gets the system checks here, before it starts: it runs them itself in a thread
    of its autoreloader, where an error prints a traceback and the process waits for a file to
    change instead of exiting.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bootwebhooks.settings")
    import django
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    from bootwebhooks.inbox.checks import configuration_error, database_error, raise_on_errors

    try:
        django.setup()
        if argv[1:2] == ["runserver"] and "--skip-checks" not in argv:
            raise_on_errors(checks.run_checks())
        if argv[1:2] != ["check"]:
            stop_on_check_errors()
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        sys.exit(configuration_error(exc))
    except DatabaseError as exc:
        if "--traceback" in argv:
            raise
        sys.exit(database_error(exc))


def stop_on_check_errors() -> None:
    """Commands raise ImproperlyConfigured for a serious system check message, instead of
    printing Django's multi-line report; warnings are printed as before. (Django offers no
    hook for this: every command's checks go through BaseCommand.check.)"""
    from django.core import checks
    from django.core.management.base import BaseCommand, SystemCheckError

    from bootwebhooks.inbox.checks import raise_on_errors

    report = BaseCommand.check

    def check(
        self: BaseCommand,
        app_configs: list | None = None,
        tags: list[str] | None = None,
        display_num_errors: bool = False,
        include_deployment_checks: bool = False,
        fail_level: int = checks.ERROR,
        databases: list[str] | None = None,
    ) -> None:
        selection = {
            "app_configs": app_configs,
            "tags": tags,
            "include_deployment_checks": include_deployment_checks,
            "databases": databases,
        }
        try:
            report(self, display_num_errors=display_num_errors, fail_level=fail_level, **selection)
        except SystemCheckError:
            # Its text is the formatted report: ask the checks again for the messages (the
            # command stops here anyway).
            raise_on_errors(checks.run_checks(**selection), fail_level)
            raise

    BaseCommand.check = check


if __name__ == "__main__":
    main(sys.argv)
