"""How events get in: parse, record once, dispatch. Two entry points, one set of rules.

- `deliver(Delivery)`: a webhook delivery, whose signature `Delivery.verify()` checked (the
  view's authentication class, `send_test_webhook --local`, the demo). A redelivery is counted.
- `ingest_batch([ParsedEvent])`: imports, backfills and reconciliation. Events already stored
  are left alone (an import is not a delivery); new ones are stored with one query and, unless
  told otherwise, dispatched one by one exactly as a delivery's would be.

Both record through `record()`/`_new_event()` and process through `dispatch()`, so the rules
about duplicates and statuses are written once.
"""

import json
import logging
import re
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics, statements
from bootwebhooks.inbox.dispatch import dispatch
from bootwebhooks.inbox.exceptions import InvalidPayload, ThinEventRejected
from bootwebhooks.inbox.fields import fit, is_event_id, is_object_id, printable
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.registry import registry
from bootwebhooks.inbox.scope import NO_HANDLER, refusal
from bootwebhooks.inbox.timeouts import bound_transaction, riding_bounds
from bootwebhooks.inbox.verify import verify

logger = logging.getLogger(__name__)
_YEAR_9999 = 253_402_300_800  # datetime cannot go further
_DROPPED_HEADERS = {"cookie", "authorization", "proxy-authorization"}
_SIGNATURE_VALUE = re.compile(r"\b(v\d+)=[^,]*")
_EVENT_TYPE = re.compile(r"(?=.{1,100}$)[a-z0-9_]+(\.[a-z0-9_]+)*")  # invoice.paid
# Stripe's objects nest a dozen levels or so; this leaves room for expansions while keeping
# every reader (the admin, json.dumps) far from Python's recursion limit.
MAX_DEPTH = 512


class ParsedEvent(NamedTuple):
    """What `parse_event` found in a checked body. A named tuple, immutable like a frozen
    dataclass, made in a third of the time (a frozen dataclass sets each field through
    `object.__setattr__`), as every delivery makes one."""

    id: str
    type: str
    api_version: str
    livemode: bool
    created: datetime
    account: str
    object_id: str
    customer_id: str
    customer_email: str
    body: str


class Receipt(NamedTuple):
    """What the caller learns: the event id and its status after this delivery."""

    id: str
    status: str
    duplicate: bool = False  # a redelivery of an event already final: nothing ran
    queued: bool = False  # queued mode: stored with a task that will process it


def parse_event(body: bytes | str) -> ParsedEvent:
    """Check that `body` is a v1 (snapshot) Stripe event and pull out what we index.

    The event id, `data.object.id`, its customer and the Connect account must have the shape of
    Stripe ids (inbox.fields): they are keys, log fields and search terms, so anything else is
    refused whole (a 400, nothing stored). Other fields are stored however odd.
    """
    try:
        text = body.decode() if isinstance(body, bytes) else body
        data = _JSON.decode(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("body is not JSON") from None
    except RecursionError:
        raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise InvalidPayload("body is not a Stripe event object")
    if str(data.get("object", "")).startswith("v2."):
        raise ThinEventRejected(
            "thin (v2) events are not accepted: point a snapshot (v1) event destination here"
        )
    if data.get("object") != "event":
        raise InvalidPayload('body is not a Stripe event object ("object": "event")')
    event_id, event_type = data.get("id"), data.get("type")
    if not is_event_id(event_id):
        raise InvalidPayload("event has no valid id (evt_ and letters, digits, underscores)")
    if not (isinstance(event_type, str) and _EVENT_TYPE.fullmatch(event_type[:101])):
        raise InvalidPayload("event has no valid type")
    created = data.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < _YEAR_9999:
        raise InvalidPayload("event has no valid created timestamp")
    envelope = data.get("data")
    obj = envelope.get("object") if isinstance(envelope, dict) else None
    if not isinstance(obj, dict):
        raise InvalidPayload("event has no data.object")
    if could_nest_deeper_than(text, MAX_DEPTH) and nested_deeper_than(data, MAX_DEPTH):
        raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels")
    return ParsedEvent(
        id=event_id,
        type=event_type,
        api_version=fit(data.get("api_version"), None),
        livemode=data.get("livemode") is True,
        created=datetime.fromtimestamp(created, tz=UTC),
        account=_optional_id(data.get("account"), "account"),
        object_id=_optional_id(obj.get("id"), "data.object.id"),
        customer_id=_customer_id(obj),
        customer_email=_email(obj),
        body=text,
    )


def _not_json(name: str) -> None:
    """NaN and Infinity: Python reads them, JSON (RFC 8259) has no such values, Stripe never
    sends them, and the import's streaming parser stops at them; refused alike everywhere."""
    raise ValueError(f"{name} is not a JSON value")


# json.loads with an argument makes its decoder anew each time, a tenth of parsing an event.
_JSON = json.JSONDecoder(parse_constant=_not_json)


def could_nest_deeper_than(text: str, limit: int) -> bool:
    """False when the JSON `text` cannot nest more than `limit` levels: each level opens with
    its own `{` or `[`, so fewer of them than that (in strings too) settle it without walking
    the parsed value, which cost a fifth of a duplicate delivery's CPU."""
    return text.count("{") + text.count("[") > limit


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than `limit` objects and arrays deep (without
    recursion: a deep value must not overflow the stack of whoever looks at it)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list) and child:
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


@dataclass(frozen=True)
class Delivery:
    """A webhook request whose body Stripe signed. Make one with `verify()` (never the
    constructor): `deliver()` trusts it."""

    body: bytes
    headers: Mapping[str, str]

    @classmethod
    def verify(cls, body: bytes, headers: Mapping[str, str]) -> "Delivery":
        """Raise InvalidSignature unless Stripe-Signature signs `body` with a configured
        secret, in time. No database, no JSON: a wrong secret costs an HMAC per secret."""
        verify(
            body,
            headers.get("Stripe-Signature"),
            app_settings.STRIPE_WEBHOOK_SECRETS,
            app_settings.STRIPE_WEBHOOK_TOLERANCE,
        )
        return cls(body, headers)


def deliver(delivery: Delivery) -> Receipt:
    """The one way a webhook delivery gets in: parse it, then record and process it (or, in
    queued mode, record it with its task)."""
    parsed = parse_event(delivery.body)
    if app_settings.WEBHOOK_PROCESSING == "queued":
        receipt = record_and_enqueue(parsed, headers=delivery.headers)
    else:
        receipt = _ingest(parsed, headers=delivery.headers)
    outcome = "duplicate" if receipt.duplicate else receipt.status
    metrics.labelled(metrics.EVENTS, parsed.type, outcome).inc()
    return receipt


def record_and_enqueue(parsed: ParsedEvent, *, headers: Mapping[str, str]) -> Receipt:
    """Queued mode: store the event and its task in one transaction; workers process it.

    A redelivery of an event that is not final enqueues it again: a spare task finds it final
    under the row lock and does nothing, while a lost one (a dead worker) is replaced.
    """
    from bootwebhooks.inbox.queue import enqueue

    with transaction.atomic():
        bound_transaction()
        pk, status, created = record(parsed, source=WebhookEvent.Source.WEBHOOK, headers=headers)
        queued = status not in WebhookEvent.FINAL
        if queued:
            enqueue(pk)
    return Receipt(parsed.id, status, duplicate=not created and not queued, queued=queued)


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers worth keeping for support, minus credentials and signature values."""
    kept = {}
    for name, value in headers.items():
        if name.lower() in _DROPPED_HEADERS:
            continue
        if name.lower() == "stripe-signature":
            value = _SIGNATURE_VALUE.sub(r"\1=<redacted>", value)
        kept[name] = value[:1000]
    return kept


def _ingest(parsed: ParsedEvent, *, headers: Mapping[str, str]) -> Receipt:
    """Record the delivery (durably, in its own transaction) and process it unless final."""
    pk, status, created = record(parsed, source=WebhookEvent.Source.WEBHOOK, headers=headers)
    if status in WebhookEvent.FINAL:
        # A redelivery changes nothing: /metrics counts it; the line is for debugging only.
        level = logging.INFO if created else logging.DEBUG
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "stripe event %s type=%s status=%s duplicate=%d",
                printable(parsed.id),
                parsed.type,
                status,
                not created,
            )
        return Receipt(parsed.id, status, duplicate=not created)
    event = dispatch(pk, trigger=Attempt.Trigger.WEBHOOK)
    return Receipt(event.stripe_id, event.status)


def ingest_batch(
    batch: list[ParsedEvent],
    *,
    source: WebhookEvent.Source,
    process: bool = True,
    retry_failed: bool = False,
) -> list[Receipt | None]:
    """Imports, backfills, reconciliation: store the events we lack, then process them.

    Stored ones are left alone (None: an import is not a delivery, so nothing is counted),
    unless they failed and `retry_failed` is set. The new ones are inserted with one query;
    unless `process` is off (a backfill stores first and processes in order later), each is
    then dispatched on its own, in batch order, exactly as a webhook's would be.
    """
    stored, new = _store_missing(batch, source=source)
    receipts: list[Receipt | None] = []
    for parsed in batch:
        pk, status = stored[parsed.id]
        if parsed.id in new:
            new.discard(parsed.id)  # a second copy in the same batch is then a stored event
        elif not (retry_failed and status == WebhookEvent.Status.FAILED):
            receipts.append(None)
            continue
        if status in WebhookEvent.FINAL or not process:
            receipts.append(Receipt(parsed.id, status))
            continue
        event = dispatch(pk, trigger=Attempt.Trigger.COMMAND)
        receipts.append(Receipt(event.stripe_id, event.status))
        stored[parsed.id] = (pk, event.status)
    return receipts


def _store_missing(
    batch: list[ParsedEvent], *, source: WebhookEvent.Source
) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """Insert the events of `batch` not stored yet, with one query; nothing is dispatched.

    Returns every event's (pk, status) and the ids that were missing when it looked (one a
    webhook stored in between counts among them, as the first copy the batch has).
    """
    stored = _stored([p.id for p in batch])
    new = {p.id: p for p in batch if p.id not in stored}
    if not new:
        return stored, set()
    # ignore_conflicts: an event a webhook stored meanwhile is simply already there.
    WebhookEvent.objects.bulk_create(
        [_new_event(p, source=source) for p in new.values()], ignore_conflicts=True
    )
    inserted = _stored(list(new))
    return {**stored, **inserted}, set(inserted)


def _stored(ids: list[str]) -> dict[str, tuple[int, str]]:
    rows = WebhookEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", "pk", "status")
    return {stripe_id: (pk, status) for stripe_id, pk, status in rows}


def _new_event(
    parsed: ParsedEvent, *, source: WebhookEvent.Source, headers: Mapping[str, str] | None = None
) -> WebhookEvent:
    """An unsaved row; a type nobody handles, or an event outside this deployment's mode or
    account, is `ignored` from the start (no dispatch)."""
    reason = refusal(livemode=parsed.livemode, account=parsed.account)
    if not reason and not registry.handlers_for(parsed.type):
        reason = NO_HANDLER
    ignored = bool(reason)
    return WebhookEvent(
        stripe_id=parsed.id,
        type=parsed.type,
        api_version=parsed.api_version,
        livemode=parsed.livemode,
        stripe_created=parsed.created,
        account=parsed.account,
        object_id=parsed.object_id,
        customer_id=parsed.customer_id,
        customer_email=parsed.customer_email,
        headers=redact(headers) if headers else {},  # only new events keep theirs
        body=parsed.body,
        source=source,
        status=WebhookEvent.Status.IGNORED if ignored else WebhookEvent.Status.PENDING,
        processed_at=timezone.now() if ignored else None,
        ignored_reason=reason,
    )


def record(
    parsed: ParsedEvent,
    *,
    source: WebhookEvent.Source,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bool]:
    """Store the event if it is new, else count the delivery; return (pk, status, created).

    A type nobody handles is stored as `ignored` straight away: no second transaction. Outside
    a transaction each statement carries the bounds (inbox.timeouts) in its own query: the
    count waits for the row lock of a delivery processing the event, for so long and no more.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each look-up through `connection` costs as much
    bounds = riding_bounds(db)
    found = WebhookEvent.count_delivery(parsed.id, first=bounds)
    if found:
        return (*found, False)
    if db.in_atomic_block:
        bounds = []  # they hold until the caller's transaction ends
    event = _new_event(parsed, source=source, headers=headers)
    # Alone, the INSERT autocommits: one round trip, durable once it returns. Inside a caller's
    # transaction, a savepoint keeps a duplicate's IntegrityError from breaking it.
    guard = transaction.atomic() if db.in_atomic_block else nullcontext()
    sql, params = statements.insert(event)  # written out: every new event pays for it
    try:
        with guard, db.cursor() as cursor:
            statements.send(cursor, [*bounds, (sql, params)])
            (event.pk,) = cursor.fetchone()
    except IntegrityError:
        # A concurrent delivery of the same event inserted it first: this one is a duplicate.
        found = WebhookEvent.count_delivery(parsed.id, first=bounds)
        if found is None:
            raise
        return (*found, False)
    return event.pk, event.status, True


def _optional_id(value: Any, what: str) -> str:
    """A Stripe id, or "" when absent (some objects have none); anything else is refused."""
    if isinstance(value, dict):  # expanded
        value = value.get("id")
    if value is None or value == "":
        return ""
    if not is_object_id(value):
        raise InvalidPayload(f"{what} is not a Stripe id (letters, digits, _ and -)")
    return value


def _email(obj: dict[str, Any]) -> str:
    """The customer's email, wherever this object type keeps it."""
    details = obj.get("customer_details") or obj.get("billing_details") or {}
    for value in (
        obj.get("customer_email"),
        details.get("email") if isinstance(details, dict) else None,
        obj.get("email") if obj.get("object") == "customer" else None,
        obj.get("receipt_email"),
    ):
        if isinstance(value, str) and value:
            # Lowercased here, cut to fit by the column (inbox.fields): "İ".lower() is two
            # characters, so cutting first could overflow it.
            return value.lower()
    return ""


def _customer_id(obj: dict[str, Any]) -> str:
    if obj.get("object") == "customer":
        return _optional_id(obj.get("id"), "data.object.id")
    return _optional_id(obj.get("customer"), "data.object.customer")
