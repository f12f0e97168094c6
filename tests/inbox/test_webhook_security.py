from tests.inbox.security import WebhookSecurityTestCase


class TestStripeWebhookSecurity(WebhookSecurityTestCase):
    url = "/webhooks/stripe/"


class TestStripeWebhookSecurityWithoutSlash(WebhookSecurityTestCase):
    url = "/webhooks/stripe"
