"""Which events are ours to act on: one mode (live or test) and one account.

Test-mode and live-mode endpoints have different signing secrets, but a Connect endpoint
receives both modes and every connected account's events at the same URL, so a valid signature
does not say the event is meant for this deployment. An event outside the scope is stored
`ignored` with the reason, answered 200 (Stripe must not retry it), and has no effect.
"""

from bootwebhooks.conf import app_settings


def refusal(*, livemode: bool, account: str) -> str:
    """Why an event of this mode and account must not take effect here; "" if it may."""
    live = app_settings.STRIPE_LIVEMODE
    if livemode != live:
        if live:
            return "test-mode event on a live deployment (STRIPE_LIVEMODE)"
        return "live-mode event on a test deployment (STRIPE_LIVEMODE)"
    if account and account not in app_settings.STRIPE_CONNECT_ACCOUNTS:
        return f"event of connected account {account}, not in STRIPE_CONNECT_ACCOUNTS"
    return ""


NO_HANDLER = "no handler for this event type"
