import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from rest_framework import generics
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bootwebhooks.inbox.exceptions import PayloadTooLarge, WebhookRejected
from bootwebhooks.inbox.ingest import receive
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.permissions import CanViewModel
from bootwebhooks.inbox.serializers import WebhookEventSerializer

logger = logging.getLogger(__name__)


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
    | database unreachable                                     | 503    | -                   |
    | any method but POST                                      | 405    | nothing             |

    Every 2xx is sent after the event's outcome has committed. Errors are `{"error": ...}`.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    parser_classes = []
    http_method_names = ["post"]

    def post(self, request: Request) -> Response:
        try:
            body = read_body(request._request, settings.WEBHOOK_MAX_BODY_BYTES)
            receipt = receive(body, request.headers.get("Stripe-Signature"))
        except WebhookRejected as exc:
            return Response({"error": str(exc)}, status=exc.status_code)
        except (OperationalError, InterfaceError):
            logger.exception("database unavailable while receiving a Stripe event")
            return Response({"error": "database unavailable, retry later"}, status=503)
        failed = receipt.status == WebhookEvent.Status.FAILED
        return Response({"id": receipt.id, "status": receipt.status}, status=500 if failed else 200)


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, refused before it is read if the declared length is over `limit`."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    return request.body


class WebhookEventDetailView(generics.RetrieveAPIView):
    """A stored event and its attempts, for operators (token or staff session)."""

    permission_classes = [IsAuthenticated, CanViewModel]
    serializer_class = WebhookEventSerializer
    queryset = WebhookEvent.objects.prefetch_related("attempts__user")
    lookup_field = "stripe_id"
    lookup_url_kwarg = "evt_id"
