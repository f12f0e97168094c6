"""docs/INSTALL.md cannot drift from the code: its settings table is conf.DEFAULTS, and the
events it tells you to enable in the Stripe dashboard are the ones the handlers take."""

import re
from pathlib import Path

from bootwebhooks.conf import DEFAULTS
from bootwebhooks.inbox.registry import registry

INSTALL = Path(__file__).resolve().parent.parent / "docs" / "INSTALL.md"


def between(marker: str) -> str:
    text = INSTALL.read_text()
    found = re.search(rf"<!-- {marker}:start -->\n(.*?)<!-- {marker}:end -->", text, re.S)
    assert found, f"docs/INSTALL.md has no {marker} block"
    return found.group(1)


def settings_table() -> str:
    rows = [f"| `{name}` | `{s.default!r}` | {s.meaning} |" for name, s in DEFAULTS.items()]
    return "\n".join(["| setting | default | meaning |", "| --- | --- | --- |", *rows]) + "\n"


def test_the_settings_table_lists_every_setting_with_its_default():
    expected = settings_table()
    assert between("settings") == expected, f"paste into docs/INSTALL.md:\n{expected}"


def test_the_dashboard_events_are_the_handled_types():
    expected = "".join(f"- `{event_type}`\n" for event_type in registry.event_types())
    assert between("events") == expected, f"paste into docs/INSTALL.md:\n{expected}"
