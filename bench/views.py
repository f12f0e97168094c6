"""The two baselines and one bound, served by the same gunicorn and middleware as the product."""

import json

import stripe
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.request import Request
from rest_framework.views import APIView

from bench.models import NaiveEvent
from bootwebhooks.inbox.exceptions import WebhookRejected
from bootwebhooks.inbox.ingest import Delivery
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.views import StripeWebhookView, answer


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    """The framework floor: read the body, answer. No signature, no database."""
    request.body  # noqa: B018  (reading it is the point)
    return HttpResponse(b"ok")


class DrfFloor(APIView):
    """Diagnostic, not a goal: the floor as a DRF view with the webhook view's policy.

    The distance between the two floors is what DRF itself costs every webhook answer.
    """

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    parser_classes = []
    renderer_classes = StripeWebhookView.renderer_classes
    content_negotiation_class = StripeWebhookView.content_negotiation_class
    http_method_names = ["post"]

    def post(self, request: Request) -> HttpResponse:
        request._request.body  # noqa: B018
        return answer({"ok": "true"}, 200)


@csrf_exempt
@require_POST
def naive_receiver(request: HttpRequest) -> HttpResponse:
    """What a tutorial writes: verify with stripe-python, `get_or_create` one row per event id.

    It uses the SDK's bare verifier rather than `Webhook.construct_event`, which also builds a
    StripeObject tree: the cheaper choice makes the baseline harder to beat, not easier.
    """
    payload = request.body.decode()
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            request.headers.get("Stripe-Signature", ""),
            settings.STRIPE_WEBHOOK_SECRETS[0],
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE,
        )
    except stripe.SignatureVerificationError:
        return HttpResponse(status=400)
    event = json.loads(payload)
    NaiveEvent.objects.get_or_create(
        stripe_id=event["id"], defaults={"type": event["type"], "body": payload}
    )
    return HttpResponse(b"ok")


@csrf_exempt
@require_POST
def one_round_trip(request: HttpRequest) -> HttpResponse:
    """Diagnostic, not a goal: the least a duplicate delivery can cost under the inbox's rule
    (a duplicate is counted, in at most one indexed round trip).

    The webhook's essentials and nothing else: its signature check, the event id, and its
    delivery count (`WebhookEvent.count_delivery`). No DRF, no validation of the event, no
    metrics, no log. The webhook's duplicates can approach this, not pass it.
    """
    body = request.body
    try:
        Delivery.verify(body, request.headers)
    except WebhookRejected:
        return HttpResponse(status=400)
    found = WebhookEvent.count_delivery(json.loads(body)["id"])
    return HttpResponse(b"ok" if found else b"not stored", status=200 if found else 404)
