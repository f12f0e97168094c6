"""Why a webhook request was refused. Each carries the HTTP status the view answers with."""


class WebhookRejected(Exception):
    """The request is not a delivery we can accept; nothing about it is stored."""

    status_code = 400
    reason = "rejected"  # the metrics label


class InvalidSignature(WebhookRejected):
    reason = "signature"


class InvalidPayload(WebhookRejected):
    reason = "payload"


class ThinEventRejected(InvalidPayload):
    reason = "thin_event"


class PayloadTooLarge(WebhookRejected):
    status_code = 413
    reason = "too_large"


class RegistryError(Exception):
    """A handler registration that cannot be right: raised at import, never at request time."""
