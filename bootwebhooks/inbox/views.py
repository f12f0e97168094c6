import functools
import json
import logging
import time
from collections.abc import Iterator, Mapping

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, DataAndFiles
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics
from bootwebhooks.inbox.dispatch import dispatch, is_lock_conflict
from bootwebhooks.inbox.exceptions import InvalidSignature, PayloadTooLarge, WebhookRejected
from bootwebhooks.inbox.ingest import Delivery, deliver
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.permissions import (
    API_AUTHENTICATION,
    CanViewModel,
    has_perm,
    permission,
)
from bootwebhooks.inbox.schema import OpenApiTypes, extend_schema, inline_serializer
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
    """The webhook takes whatever Stripe sends to its one parser (the body is checked after
    the signature) and answers JSON whatever the Accept header says: Stripe reads only the
    status, and negotiating cost more than checking a signature."""

    def select_parser(self, request, parsers: list[BaseParser]) -> BaseParser:
        return parsers[0]

    def select_renderer(
        self, request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class RawBodyParser(BaseParser):
    """`request.data` is the body's bytes, exactly as signed, never decoded here: the
    signature is over the raw bytes, and no JSON is parsed before it is verified. A body over
    WEBHOOK_MAX_BODY_BYTES is refused by its declared length, before it is read."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        limit = app_settings.WEBHOOK_MAX_BODY_BYTES
        try:
            # Django's request, as in the authentication below.
            declared = int(parser_context["request"]._request.META.get("CONTENT_LENGTH") or 0)
        except (AttributeError, KeyError, TypeError, ValueError):
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
        body = stream.read(limit + 1)
        if len(body) > limit:  # a server that does not hold the client to its Content-Length
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
        return DataAndFiles(body, {})  # no files (DRF would find that out by an AttributeError)


class StripeSignatureAuthentication(BaseAuthentication):
    """The webhook's authentication: the Stripe-Signature header must sign the raw body
    (from RawBodyParser) with a configured secret, within the tolerance. Authenticates no
    user; `request.auth` is the verified `Delivery`. Anything but POST is left to the 405."""

    def authenticate(self, request: Request) -> tuple[None, Delivery] | None:
        # Django's own request for its attributes: DRF's reaches them through __getattr__, by
        # way of an AttributeError each, and every delivery reads them.
        http = request._request
        if http.method != "POST":
            return None
        data = request.data
        body = data if isinstance(data, bytes) else b""  # no body: no bytes
        return None, Delivery.verify(body, RequestHeaders(http))


class RequestHeaders(Mapping[str, str]):
    """`request.headers`, built only when a delivery is stored: Django builds that mapping
    from every header, which would cost a rejected delivery as much again as its check."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def get(self, name: str, default: str | None = None) -> str | None:
        if name == "Stripe-Signature":
            return self.request.META.get("HTTP_STRIPE_SIGNATURE", default)
        return self.request.headers.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self.request.headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.request.headers)

    def __len__(self) -> int:
        return len(self.request.headers)


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
    | a row lock or statement timeout ran out (PostgreSQL)     | 503    | event, if new       |
    | database unreachable                                     | 503    | -                   |
    | any method but POST                                      | 405    | nothing             |

    Every 2xx is sent after the event's outcome has committed. Errors are `{"error": ...}`.
    The size and the signature are checked by DRF's own hooks (the parser, the authentication
    class) before any JSON is parsed; the rejections come back through `handle_exception`.
    """

    authentication_classes = [StripeSignatureAuthentication]
    permission_classes = []
    throttle_classes = []
    parser_classes = [RawBodyParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnly
    http_method_names = ["post"]

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
        receipt = deliver(request.auth)
        code = 202 if receipt.queued else _STATUS_CODES.get(receipt.status, 200)
        return answer({"id": receipt.id, "status": receipt.status}, code)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, WebhookRejected):
            return reject(exc)
        if isinstance(exc, OperationalError | InterfaceError):
            if is_lock_conflict(exc):
                # The event is stored (or was never written): a later delivery processes it.
                reason = type(exc.__cause__ or exc).__name__
                logger.warning("busy receiving a Stripe event, answered 503: %s", reason)
                return answer({"error": "busy: rows this event needs are locked, retry later"}, 503)
            logger.exception("database unavailable while receiving a Stripe event")
            return answer({"error": "database unavailable, retry later"}, 503)
        return super().handle_exception(exc)


def reject(exc: WebhookRejected) -> HttpResponse:
    metrics.labelled(metrics.REJECTED, exc.reason).inc()
    if isinstance(exc, InvalidSignature):
        metrics.SIGNATURE_FAILURES.inc()
    log_rejection(exc)
    return _json(_error_body(str(exc)), exc.status_code)


@functools.lru_cache(maxsize=64)
def _error_body(message: str) -> bytes:
    """A rejection's answer, encoded once per message: the messages are a few fixed texts, and a
    wrong secret turns every delivery into one of them."""
    return json.dumps({"error": message}).encode()


def answer(payload: dict[str, str], status: int) -> HttpResponse:
    """The webhook's JSON answers: plain HttpResponses (Stripe reads only the status), encoded
    by the standard library's default encoder, cheaper than JsonResponse's or DRF's renderer."""
    return _json(json.dumps(payload).encode(), status)


def _json(body: bytes, status: int) -> HttpResponse:
    # Bytes: Django would encode a str after looking its charset up in the content type.
    return HttpResponse(body, content_type="application/json", status=status)


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


class WebhookEventDetailView(generics.RetrieveAPIView):
    """A stored event and its attempts, for operators (token or staff session)."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated, CanViewModel]
    serializer_class = WebhookEventSerializer
    queryset = WebhookEvent.objects.prefetch_related("attempts__user")
    lookup_field = "stripe_id"
    lookup_url_kwarg = "evt_id"


class RetryEventView(APIView):
    """Retry one event through the webhook's dispatch (same row lock: a retry racing a Stripe
    redelivery still applies the effects once). A final event is returned unchanged."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated, has_perm(permission(WebhookEvent, "retry"))]
    serializer_class = RetrySerializer

    @extend_schema(request=RetrySerializer, responses=WebhookEventSerializer)
    def post(self, request: Request, evt_id: str) -> Response:
        event = get_object_or_404(WebhookEvent, stripe_id=evt_id)
        params = RetrySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            done = dispatch(
                event.pk, trigger=Attempt.Trigger.STAFF, user=request.user, note=params.data["note"]
            )
        except OperationalError as exc:
            if not is_lock_conflict(exc):
                raise
            return Response({"error": "busy: rows it needs are locked, retry later"}, 503)
        return Response(WebhookEventSerializer(_fresh(done)).data)


class ResolveEventView(APIView):
    """Mark an event processed or ignored without running handlers; a note is required."""

    authentication_classes = API_AUTHENTICATION
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
