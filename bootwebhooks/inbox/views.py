import json
import logging
import time

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics
from bootwebhooks.inbox.dispatch import dispatch
from bootwebhooks.inbox.exceptions import InvalidSignature, PayloadTooLarge, WebhookRejected
from bootwebhooks.inbox.ingest import accept, check_signature
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.permissions import CanViewModel, has_perm, permission
from bootwebhooks.inbox.serializers import (
    ResolveSerializer,
    RetrySerializer,
    WebhookEventSerializer,
)

logger = logging.getLogger(__name__)


_RECEIPT = inline_serializer(
    "Receipt", {"id": serializers.CharField(), "status": serializers.CharField()}
)
_ERROR = inline_serializer("WebhookError", {"error": serializers.CharField()})


class JsonOnly(BaseContentNegotiation):
    """The webhook answers JSON whatever the Accept header says: Stripe reads only the status,
    and negotiating cost more than checking a signature."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(
        self, request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class StripeWebhookView(APIView):
    """Receive one Stripe delivery. The signature is the authentication.

    | request                                                  | answer | stored              |
    | -------------------------------------------------------- | ------ | ------------------- |
    | no/unparsable Stripe-Signature, no v1 matching a secret, | 400    | nothing             |
    |   timestamp beyond the tolerance (past or future)        |        |                     |
    | signed, but not JSON or not a v1 event object            | 400    | nothing             |
    | thin (v2) event                                          | 400    | nothing             |
    | body over WEBHOOK_MAX_BODY_BYTES (body left unread)      | 413    | nothing             |
    | new event, handlers succeed                              | 200    | event + attempt     |
    | new event of a type no handler takes                     | 200    | event (`ignored`)   |
    | event already processed/ignored/superseded               | 200    | delivery count + 1  |
    | event failed or pending                                  | as new | a new attempt       |
    | a handler raises                                         | 500    | `failed` + traceback|
    | queued mode (WEBHOOK_PROCESSING=queued), not yet final   | 202    | event + task        |
    | database unreachable                                     | 503    | -                   |
    | any method but POST                                      | 405    | nothing             |

    Every 2xx is sent after the event's outcome has committed. Errors are `{"error": ...}`.
    """

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    parser_classes = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnly
    http_method_names = ["post"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        # The body's size and signature are checked before DRF wraps the request: with a wrong
        # secret every delivery is a rejection, which should cost little more than the HMAC.
        if request.method == "POST":
            try:
                self.verified_body = read_body(request, app_settings.WEBHOOK_MAX_BODY_BYTES)
                check_signature(self.verified_body, request.META.get("HTTP_STRIPE_SIGNATURE"))
            except WebhookRejected as exc:
                return reject(exc)
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        summary="Receive a Stripe event (signed with Stripe-Signature)",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: _RECEIPT,
            202: _RECEIPT,
            400: _ERROR,
            413: _ERROR,
            500: _RECEIPT,
            503: _ERROR,
        },
        auth=[],
    )
    def post(self, request: Request) -> HttpResponse:
        try:
            receipt = accept(self.verified_body, request._request.headers)
        except WebhookRejected as exc:
            return reject(exc)
        except (OperationalError, InterfaceError):
            logger.exception("database unavailable while receiving a Stripe event")
            return answer({"error": "database unavailable, retry later"}, 503)
        code = 202 if receipt.queued else _STATUS_CODES.get(receipt.status, 200)
        return answer({"id": receipt.id, "status": receipt.status}, code)


def reject(exc: WebhookRejected) -> HttpResponse:
    metrics.REJECTED.labels(exc.reason).inc()
    if isinstance(exc, InvalidSignature):
        metrics.SIGNATURE_FAILURES.inc()
    log_rejection(exc)
    return answer({"error": str(exc)}, exc.status_code)


def answer(payload: dict[str, str], status: int) -> HttpResponse:
    """The webhook's JSON answers: plain HttpResponses (Stripe reads only the status), encoded
    by the standard library's default encoder, cheaper than JsonResponse's or DRF's renderer."""
    return HttpResponse(json.dumps(payload), content_type="application/json", status=status)


# A failed event answers 500 so Stripe retries; a queued one 202 once it and its task are stored.
_STATUS_CODES = {WebhookEvent.Status.FAILED: 500, WebhookEvent.Status.PENDING: 202}


_LOG_EVERY = 10.0  # seconds
_last_logged: dict[str, tuple[float, int]] = {}  # reason -> (when, rejections since)


def log_rejection(exc: WebhookRejected) -> None:
    """One warning per reason every 10 s, saying how many were rejected in between.

    A wrong secret turns every delivery into a 400: a line each would cost more than the
    check (Django's own per-4xx warning is off for this reason, see settings.LOGGING), while
    /metrics counts every one by reason.
    """
    now = time.monotonic()
    when, since = _last_logged.get(exc.reason, (-_LOG_EVERY, 0))
    if now - when < _LOG_EVERY:
        _last_logged[exc.reason] = (when, since + 1)
        return
    _last_logged[exc.reason] = (now, 0)
    more = f" (and {since} more since the last report)" if since else ""
    logger.warning("rejected a Stripe delivery: %s: %s%s", exc.reason, exc, more)


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, refused before it is read if the declared length is over `limit`."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    body = request.body
    if len(body) > limit:  # a server that does not hold the client to its Content-Length
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    return body


class WebhookEventDetailView(generics.RetrieveAPIView):
    """A stored event and its attempts, for operators (token or staff session)."""

    permission_classes = [IsAuthenticated, CanViewModel]
    serializer_class = WebhookEventSerializer
    queryset = WebhookEvent.objects.prefetch_related("attempts__user")
    lookup_field = "stripe_id"
    lookup_url_kwarg = "evt_id"


class RetryEventView(APIView):
    """Retry one event through the webhook's dispatch (same row lock: a retry racing a Stripe
    redelivery still applies the effects once). A final event is returned unchanged."""

    permission_classes = [IsAuthenticated, has_perm(permission(WebhookEvent, "retry"))]
    serializer_class = RetrySerializer

    @extend_schema(request=RetrySerializer, responses=WebhookEventSerializer)
    def post(self, request: Request, evt_id: str) -> Response:
        event = get_object_or_404(WebhookEvent, stripe_id=evt_id)
        params = RetrySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        done = dispatch(
            event.pk, trigger=Attempt.Trigger.STAFF, user=request.user, note=params.data["note"]
        )
        return Response(WebhookEventSerializer(_fresh(done)).data)


class ResolveEventView(APIView):
    """Mark an event processed or ignored without running handlers; a note is required."""

    permission_classes = [IsAuthenticated, has_perm(permission(WebhookEvent, "resolve"))]
    serializer_class = ResolveSerializer

    @extend_schema(request=ResolveSerializer, responses=WebhookEventSerializer)
    def post(self, request: Request, evt_id: str) -> Response:
        event = get_object_or_404(WebhookEvent, stripe_id=evt_id)
        params = ResolveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        WebhookEvent.resolve(
            event.pk, params.data["status"], user=request.user, note=params.data["note"]
        )
        return Response(WebhookEventSerializer(_fresh(event)).data)


def _fresh(event: WebhookEvent) -> WebhookEvent:
    return WebhookEvent.objects.prefetch_related("attempts__user").get(pk=event.pk)
