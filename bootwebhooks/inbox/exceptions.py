"""Why a webhook request was refused. Each carries the HTTP status the view answers with.

They are DRF exceptions, since the webhook's authentication class raises them (a bad
signature) and DRF passes those through to the view's handle_exception; outside a request
(imports, backfills) they are plain exceptions with a message.
"""

from rest_framework.exceptions import APIException


class WebhookRejected(APIException):
    """The request is not a delivery we can accept; nothing about it is stored."""

    status_code = 400
    reason = "rejected"  # the metrics label

    def __init__(self, detail: str) -> None:
        # A plain message: the view answers it itself (DRF's ErrorDetail wrapping, the
        # default's cost, would buy a rejected delivery nothing).
        Exception.__init__(self, detail)
        self.detail = detail


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
