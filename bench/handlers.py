"""A handler for the reliability runs: it records one `Effect` row per application.

`BENCH_HANDLER_DELAY_MS` holds the transaction open a little longer, so that a worker killed or
a database restarted mid-run is likely to land inside a handler.
"""

import time

from django.conf import settings

from bench.events import EFFECT_TYPES
from bench.models import Effect
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.registry import handles


@handles(*EFFECT_TYPES)
def record_effect(event: WebhookEvent) -> None:
    if settings.BENCH_HANDLER_DELAY_MS:
        time.sleep(settings.BENCH_HANDLER_DELAY_MS / 1000)
    Effect.objects.create(event_id=event.stripe_id)
