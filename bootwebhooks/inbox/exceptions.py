"""Why a webhook request was refused. Each carries the HTTP status the view answers with."""


class WebhookRejected(Exception):
    """The request is not a delivery we can accept; nothing about it is stored."""

    status_code = 400


class InvalidSignature(WebhookRejected):
    pass


class InvalidPayload(WebhookRejected):
    pass


class ThinEventRejected(InvalidPayload):
    pass


class PayloadTooLarge(WebhookRejected):
    status_code = 413


class RegistryError(Exception):
    """A handler registration that cannot be right: raised at import, never at request time."""
