from django.urls import path, re_path

from bootwebhooks.inbox import health, views

app_name = "bootwebhooks_inbox"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    # With or without the trailing slash, and never a redirect: Stripe counts a 3xx as failure.
    re_path(r"^webhooks/stripe/?$", views.StripeWebhookView.as_view(), name="stripe-webhook"),
    path("api/events/<str:evt_id>/", views.WebhookEventDetailView.as_view(), name="event-detail"),
    path("api/events/<str:evt_id>/retry/", views.RetryEventView.as_view(), name="event-retry"),
    path("api/events/<str:evt_id>/mark/", views.ResolveEventView.as_view(), name="event-mark"),
]
