"""Start-up checks for the membership settings (docs/RULES.md), beside the inbox's own."""

from django.core import checks
from django.utils.module_loading import import_string

from bootwebhooks.conf import app_settings
from bootwebhooks.payments.plans import PLANS

MATCH_EMAIL_MODES = ("verified", "any", "off")


@checks.register()
def check_membership_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if app_settings.problems():
        return []  # the inbox's check reports settings that cannot be read at all
    return [*_plan_problems(), *_email_problems(), *_account_problems()]


def _plan_problems() -> list[checks.CheckMessage]:
    one_off = app_settings.MEMBERSHIP_ONE_OFF_PLAN
    named = {
        "MEMBERSHIP_PLAN_PRICES": app_settings.MEMBERSHIP_PLAN_PRICES.values(),
        "MEMBERSHIP_PLAN_LOOKUP_KEYS": app_settings.MEMBERSHIP_PLAN_LOOKUP_KEYS.values(),
        "MEMBERSHIP_ONE_OFF_PLAN": [one_off] if one_off else [],
    }
    return [
        checks.Error(
            f"{setting} names the plan {plan!r}.",
            hint=f"Plans are {', '.join(PLANS)}.",
            id="memberships.E001",
        )
        for setting, values in named.items()
        for plan in values
        if plan not in PLANS
    ]


def _email_problems() -> list[checks.CheckMessage]:
    mode = app_settings.MEMBERSHIP_MATCH_EMAIL
    if mode not in MATCH_EMAIL_MODES:
        return [
            checks.Error(
                f"MEMBERSHIP_MATCH_EMAIL is {mode!r}.",
                hint="Use verified (the default), any or off.",
                id="memberships.E002",
            )
        ]
    path = app_settings.MEMBERSHIP_EMAIL_VERIFIED
    if path:
        try:
            verified = import_string(path)
        except ImportError as exc:
            verified = None
            reason = str(exc)
        else:
            reason = "" if callable(verified) else "it is not callable"
        if reason:
            return [
                checks.Error(
                    f"MEMBERSHIP_EMAIL_VERIFIED ({path}) cannot be used: {reason}.",
                    hint="Name a function f(user, email) -> bool, e.g. myapp.accounts.is_verified.",
                    id="memberships.E003",
                )
            ]
    return []


def _account_problems() -> list[checks.CheckMessage]:
    return [
        checks.Warning(
            f"STRIPE_CONNECT_ACCOUNTS item {account!r} does not look like an account id.",
            hint="Connected account ids start with acct_.",
            id="memberships.W005",
        )
        for account in app_settings.STRIPE_CONNECT_ACCOUNTS
        if not account.startswith("acct_")
    ]
