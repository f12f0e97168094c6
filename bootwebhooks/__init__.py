"""bootwebhooks: reusable Django apps for Stripe webhooks.

Installed, the apps are `bootwebhooks.inbox`, `bootwebhooks.payments` and
`bootwebhooks.memberships`, so a host site's own `payments` or `memberships` module never
shadows them. In a source checkout `payments/` and `memberships/` sit at the top of the
repository; pyproject.toml maps them into this package for the wheel, and the lines below do
the same for a checkout (the directory above this one holds them and pyproject.toml).
"""

from pathlib import Path

_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "payments" / "apps.py").is_file():
    __path__.append(str(_checkout))
