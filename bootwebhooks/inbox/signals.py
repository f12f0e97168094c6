"""Signals a host site connects to, to react to what the apps decide without patching them.

Each is sent only after the transaction that made the decision commits (through
`transaction.on_commit`): never for a change that was rolled back, once per committed change
however many deliveries of the event raced, and with `send_robust`, so a receiver that raises
is logged and cannot fail the webhook or undo the decision.
"""

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# sender=WebhookEvent; event, type, outcome (processed, ignored or superseded), trigger.
event_processed = Signal()
# sender=WebhookEvent; event, type, outcome ("failed"), error, trigger.
event_failed = Signal()


def send_on_commit(signal: Signal, sender: type, **kwargs: Any) -> None:
    """Send `signal` once the current transaction commits (now, outside a transaction)."""
    transaction.on_commit(lambda: _send(signal, sender, kwargs))


def _send(signal: Signal, sender: type, kwargs: dict[str, Any]) -> None:
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "a receiver of a bootwebhooks signal raised: %s",
                _name(receiver),
                exc_info=(type(result), result, result.__traceback__),
            )


def _name(receiver: Callable[..., Any]) -> str:
    return f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', receiver)}"
