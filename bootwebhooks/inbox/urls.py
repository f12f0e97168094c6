from django.urls import path, re_path

from bootwebhooks.inbox import health, views
from bootwebhooks.inbox.fields import EVENT_ID_PATTERN

app_name = "bootwebhooks_inbox"
EVT = f"(?P<evt_id>{EVENT_ID_PATTERN})"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    # With or without the trailing slash, and never a redirect: Stripe counts a 3xx as failure.
    re_path(r"^webhooks/stripe/?$", views.StripeWebhookView.as_view(), name="stripe-webhook"),
    # Only ids shaped like Stripe's (inbox.fields) reach a query: anything else is a 404.
    re_path(rf"^api/events/{EVT}/$", views.WebhookEventDetailView.as_view(), name="event-detail"),
    re_path(rf"^api/events/{EVT}/retry/$", views.RetryEventView.as_view(), name="event-retry"),
    re_path(rf"^api/events/{EVT}/mark/$", views.ResolveEventView.as_view(), name="event-mark"),
]
