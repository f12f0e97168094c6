"""dj-stripe's own webhook view as a baseline, on the bench's gunicorn and PostgreSQL.

dj-stripe (installed by bench.settings, migrated in the private cluster) verifies the
signature against a `WebhookEndpoint` row, stores a `WebhookEventTrigger` and an `Event`, and
re-reads each event's object from Stripe's API before saving its copy ("crud-like" handling):
those API calls go to `StripeObjects`, a stand-in for Stripe on 127.0.0.1 that answers with the
objects of the events the bench is about to send, as Stripe would answer with their current
state.
"""

import sys
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/djstripe_baseline.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stripe_server import FakeStripe

# The endpoint's uuid is dj-stripe's URL for it; a fixed one keeps the request files simple.
ENDPOINT_UUID = uuid.UUID("00000000-0000-4000-8000-00000000b0b0")
URL = f"/bench/djstripe/webhook/{ENDPOINT_UUID}/"
API_KEY = "sk_test_51TxBenchKey0000000000000000"


class StripeObjects(FakeStripe):
    """`GET /v1/<resource>/<id>` for any object registered with `add_events`."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, dict[str, Any]] = {}

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Register each event's object (the last event about an object is its current state)
        and the prices and products its subscription names."""
        for event in events:
            obj = stripe_shaped(event["data"]["object"], event["created"])
            self.objects[obj["id"]] = obj
            if obj["object"] == "charge" and obj.get("payment_intent"):
                self.objects[obj["payment_intent"]] = payment_intent(obj)
            for item in obj.get("items", {}).get("data", []):
                price = item["price"]
                self.objects[price["id"]] = price
                self.objects[price["product"]] = product(price["product"], event["created"])

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        found = self.objects.get(path.rsplit("/", 1)[-1])
        if found is not None:
            return 200, found
        return super().answer(path, query)


def stripe_shaped(obj: dict[str, Any], created: int) -> dict[str, Any]:
    """The bench's sample object with the fields Stripe's API always sends and dj-stripe needs."""
    shaped = {"created": created, "livemode": False, "metadata": {}, **obj}
    if shaped["object"] == "subscription":
        shaped.update(start_date=created, collection_method="charge_automatically")
        items = shaped["items"]
        items.update(url=f"/v1/subscription_items?subscription={obj['id']}", has_more=False)
        for item in items["data"]:
            item.update(created=created, quantity=1, subscription=obj["id"], metadata={})
            item["price"] = {
                **item["price"],
                "product": f"prod_bench_{item['price']['id']}",
                "active": True,
                "created": created,
                "livemode": False,
            }
    return shaped


def payment_intent(charge: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": charge["payment_intent"],
        "object": "payment_intent",
        "amount": charge["amount"],
        "amount_received": charge["amount"],
        "currency": charge["currency"],
        "customer": charge["customer"],
        "status": "succeeded",
        "created": charge["created"],
        "livemode": False,
        "metadata": {},
        "latest_charge": charge["id"],
    }


def product(product_id: str, created: int) -> dict[str, Any]:
    return {
        "id": product_id,
        "object": "product",
        "name": "Membership",
        "type": "service",
        "active": True,
        "created": created,
        "livemode": False,
        "metadata": {},
    }


def create_endpoint(secret: str) -> None:
    """The `WebhookEndpoint` row dj-stripe's view looks up by uuid, with the bench's secret."""
    from djstripe.enums import WebhookEndpointValidation
    from djstripe.models import WebhookEndpoint

    WebhookEndpoint.objects.update_or_create(
        djstripe_uuid=ENDPOINT_UUID,
        defaults={
            "id": "we_bench",
            "livemode": False,
            "secret": secret,
            "status": "enabled",
            "url": f"http://127.0.0.1{URL}",
            "enabled_events": ["*"],
            "djstripe_validation_method": WebhookEndpointValidation.verify_signature,
        },
    )


def outcome(db, prefix: str) -> dict[str, int]:
    """What dj-stripe made of the events whose ids start with `evt_<prefix>`: triggers stored,
    valid, processed, failed (an exception recorded), and `Event` rows."""
    pattern = f'%"id":"evt\\_{prefix}%'
    (triggers, valid, processed, failed) = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE valid), count(*) FILTER (WHERE processed), "
        "count(*) FILTER (WHERE exception <> '') FROM djstripe_webhookeventtrigger "
        "WHERE body LIKE %s",
        [pattern],
    ).fetchone()
    (stored,) = db.execute(
        "SELECT count(*) FROM djstripe_event WHERE id LIKE %s", [f"evt\\_{prefix}%"]
    ).fetchone()
    return {
        "triggers": triggers,
        "valid": valid,
        "processed": processed,
        "failed": failed,
        "events": stored,
    }


if __name__ == "__main__":  # run by bench/run.py with the server's environment
    import django

    django.setup()
    create_endpoint(sys.argv[1])
