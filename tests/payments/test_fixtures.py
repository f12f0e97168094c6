"""Every handled event type has a fixture, and every fixture is delivered by some test."""

from pathlib import Path

import pytest
import stripe

from bootwebhooks.inbox.registry import registry
from tests.stripe_events import FIXTURES, deliver, load_event

TESTS = Path(__file__).parent.parent


def fixture_names() -> set[str]:
    return {path.stem for path in FIXTURES.glob("*.json")}


def test_every_handled_type_has_a_fixture():
    missing = [
        event_type
        for event_type in registry.event_types()
        if event_type.replace(".", "_") not in fixture_names()
    ]

    assert missing == []


def test_every_fixture_is_used_by_a_test():
    sources = "\n".join(
        path.read_text() for path in TESTS.rglob("test_*.py") if path != Path(__file__)
    )

    unused = sorted(name for name in fixture_names() if f'"{name}"' not in sources)

    assert unused == []


def test_every_fixture_is_a_v1_event_of_its_named_type():
    for name in fixture_names():
        event = load_event(name)
        event_type = event["type"].replace(".", "_")
        assert (event["object"], name.split("__")[0]) == ("event", event_type), name
        assert event["id"].startswith("evt_") and isinstance(event["created"], int), name
        assert event["data"]["object"]["id"], name


def test_fixtures_carry_no_live_data():
    for name in fixture_names():
        text = (FIXTURES / f"{name}.json").read_text()
        assert '"livemode": true' not in text, name
        assert "sk_live" not in text and "whsec_" not in text, name


@pytest.mark.django_db
def test_every_fixture_is_processed_from_its_payload_alone(client, student, monkeypatch):
    # Nothing listens on port 9: a handler that called Stripe would fail its event (500).
    monkeypatch.setattr(stripe, "api_base", "http://127.0.0.1:9")
    monkeypatch.setattr(stripe, "api_key", "sk_test_unused")

    for name in sorted(fixture_names()):
        answer = deliver(client, name)
        assert answer["status"] in ("processed", "superseded"), name
