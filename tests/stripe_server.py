"""A small stand-in for Stripe's API on 127.0.0.1, for stripe-python to talk to over real HTTP.

It serves `GET /v1/events` (filters `created[gte|gt|lte|lt]`, `type`, `types[]`, `limit`,
`starting_after`, `ending_before`; newest first, as Stripe lists) and `GET /v1/customers/<id>`,
`GET /v1/subscriptions` (`customer`, `status`), `GET /v1/subscriptions/<id>`, `GET /v1/prices`
(`active`, `limit`, `starting_after`), `/v1/products/<id>`
and `/v1/account` (which dj-stripe asks for) from fixture data. Every request is logged so tests
can see what the client asked.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeStripe:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.account = {
            "id": "acct_1TxFakeAcme000001",
            "object": "account",
            "type": "standard",
            "country": "US",
            "default_currency": "usd",
            "email": "billing@example.com",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "settings": {"dashboard": {"display_name": "Acme School"}, "branding": {}},
            "business_profile": {},
            "created": 1_700_000_000,
            "livemode": False,
            "metadata": {},
        }
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.on_request = None  # called with (path, query) before answering
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeStripe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def list_events(self, query: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str | None:
            return query.get(name, [None])[0]

        items = sorted(self.events, key=lambda e: (e["created"], e["id"]), reverse=True)
        for op, test in {
            "gte": int.__ge__,
            "gt": int.__gt__,
            "lte": int.__le__,
            "lt": int.__lt__,
        }.items():
            bound = one(f"created[{op}]")
            if bound is not None:
                items = [e for e in items if test(e["created"], int(bound))]
        # stripe-python sends lists as types[0]=..&types[1]=..; curl users send types[]=..
        wanted = [v for k, vs in query.items() if k.startswith("types[") for v in vs]
        wanted = wanted or query.get("type")
        if wanted:
            items = [e for e in items if any(_matches(e["type"], w) for w in wanted)]
        after = one("starting_after")
        if after:
            ids = [e["id"] for e in items]
            items = items[ids.index(after) + 1 :]
        limit = int(one("limit") or 10)
        return {
            "object": "list",
            "url": "/v1/events",
            "data": items[:limit],
            "has_more": len(items) > limit,
        }

    def list_prices(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """As Stripe lists prices: active ones unless `active=false`, newest first, paged."""
        active = query.get("active", ["true"])[0] != "false"
        items = sorted(
            (p for p in self.prices.values() if p.get("active", True) is active),
            key=lambda p: (p.get("created", 0), p["id"]),
            reverse=True,
        )
        after = query.get("starting_after", [None])[0]
        if after:
            ids = [p["id"] for p in items]
            items = items[ids.index(after) + 1 :]
        limit = int(query.get("limit", ["10"])[0])
        return {
            "object": "list",
            "url": "/v1/prices",
            "data": items[:limit],
            "has_more": len(items) > limit,
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if path == "/v1/events":
            return 200, self.list_events(query)
        if path == "/v1/prices":
            return 200, self.list_prices(query)
        if path == "/v1/account":
            return 200, self.account
        if path.startswith("/v1/products/") and path.count("/") == 3:
            found = self.products.get(path.rsplit("/", 1)[1])
            return (200, found) if found else _missing("product")
        if path.startswith("/v1/customers/"):
            found = self.customers.get(path.rsplit("/", 1)[1])
            return (200, found) if found else _missing("customer")
        if path == "/v1/subscriptions":
            items = [
                s
                for s in self.subscriptions.values()
                if s.get("customer") in query.get("customer", [s.get("customer")])
            ]
            return 200, {"object": "list", "url": path, "data": items, "has_more": False}
        if path.startswith("/v1/subscriptions/"):
            found = self.subscriptions.get(path.rsplit("/", 1)[1])
            return (200, found) if found else _missing("subscription")
        return _missing("resource")


def _matches(event_type: str, pattern: str) -> bool:
    return event_type.startswith(pattern[:-1]) if pattern.endswith("*") else event_type == pattern


def _missing(what: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"type": "invalid_request_error", "message": f"No such {what}"}}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            fake.requests.append((url.path, query))
            if fake.on_request:
                fake.on_request(url.path, query)
            status, body = fake.answer(url.path, query)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_fake")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler
