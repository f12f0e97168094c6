import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from bootwebhooks.inbox import samples
from bootwebhooks.inbox.ingest import parse_event
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.registry import registry, stripe_event_types

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("send_test_webhook", *args, stdout=out)
    return out.getvalue()


def test_every_handled_type_has_a_sample():
    assert set(registry.event_types()) <= set(samples.OBJECTS)


@pytest.mark.parametrize("event_type", sorted(samples.OBJECTS))
def test_every_sample_is_a_valid_event_of_a_real_type(event_type):
    event = samples.build(event_type, key="k1", user_id=7, email="a@example.com", now=1_800_000_000)
    parsed = parse_event(json.dumps(event))
    assert event_type in stripe_event_types()
    assert parsed.type == event_type
    assert parsed.object_id.endswith("_k1")


def test_it_processes_an_event_locally_for_a_user():
    User.objects.create_user("ada", "ada@example.com")
    out = run("customer.created", "--user", "ada", "--local", "--key", "t1")
    assert "evt_t1_customer_created customer.created: " in out
    stored = WebhookEvent.objects.get()
    assert stored.customer_email == "ada@example.com"
    assert stored.status in ("processed", "ignored")


@pytest.mark.django_db(transaction=True)
def test_it_posts_to_a_running_server(live_server):
    out = run(
        "customer.created",
        "--email",
        "bo@example.com",
        "--url",
        live_server.url + "/webhooks/stripe/",
    )
    assert ": 200 " in out
    assert WebhookEvent.objects.get().customer_email == "bo@example.com"


def test_it_lists_what_it_can_build():
    assert "invoice.paid" in run("--list").split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invoice.payed", "--email", "a@b.c"], "no sample for 'invoice.payed'"),
        (["invoice.paid"], "say who pays"),
        (["invoice.paid", "--user", "nobody"], "no user 'nobody'"),
        (["invoice.paid", "--email", "a@b.c", "--url", "http://127.0.0.1:9/x"], "cannot reach"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
