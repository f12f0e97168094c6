"""The explicit map from Stripe event type to the functions that handle it.

The product's own steps are registered from one table (memberships/pipeline.py, from its
`AppConfig.ready()`); a host app may add its own the same way, or with the decorator:

    from bootwebhooks.inbox.registry import handles

    @handles("invoice.paid", "invoice.payment_succeeded")
    def record_payment(event: WebhookEvent) -> None: ...

Handlers of one type run in registration order, inside the single transaction that also
records the event's outcome. A handler may return `Attempt.Outcome.SUPERSEDED` to say the
snapshot was older than what is already applied. Registering a type Stripe does not send, or
the same handler twice, raises at import.
"""

import typing
from collections.abc import Callable, Iterable

import stripe

from bootwebhooks.inbox.exceptions import RegistryError

Handler = Callable[..., object]


def stripe_event_types() -> frozenset[str]:
    """Every v1 event type the pinned stripe-python knows (its `Event.type` literal)."""
    hint = typing.get_type_hints(stripe.Event).get("type")
    types = frozenset(typing.get_args(hint))
    if not types:
        raise RegistryError("stripe-python no longer lists event types in Event.type")
    return types


class Registry:
    def __init__(self, known_types: Iterable[str] | None = None) -> None:
        self.known_types = frozenset(known_types or stripe_event_types())
        self._handlers: dict[str, list[Handler]] = {}

    def handles(self, *event_types: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for event_type in event_types:
                self.add(event_type, handler)
            return handler

        if not event_types:
            raise RegistryError("handles() needs at least one event type")
        return register

    def add(self, event_type: str, handler: Handler) -> None:
        if event_type not in self.known_types:
            raise RegistryError(f"{event_type!r} is not a Stripe event type")
        name = _qualified_name(handler)
        registered = self._handlers.setdefault(event_type, [])
        if any(_qualified_name(h) == name for h in registered):
            raise RegistryError(f"{name} is already registered for {event_type!r}")
        registered.append(handler)

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        return tuple(self._handlers.get(event_type, ()))

    def event_types(self) -> list[str]:
        return sorted(self._handlers)


def _qualified_name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


registry = Registry()
handles = registry.handles
