"""Stripe's webhook signature scheme (as Stripe documents it for webhook endpoints).

The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`; the signed string is
`<t>.<raw body>`, HMAC-SHA256 keyed with the whole `whsec_...` secret. Any `v1` matching any
configured secret is accepted; `v0` and other schemes are ignored so an attacker cannot
downgrade us. Nothing here touches the database.
"""

import hashlib
import hmac
import time
from collections.abc import Sequence

from bootwebhooks.inbox.exceptions import InvalidSignature

MAX_SIGNATURES = 8  # Stripe sends one v1 per live secret; more is abuse, not a secret roll.


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The lowercase hex v1 signature Stripe would send for this body."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` header as Stripe would send it (for the demo and test deliveries)."""
    return f"t={timestamp},v1={sign(body, secret, timestamp)}"


def parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise InvalidSignature("missing Stripe-Signature header")
    timestamp = None
    signatures = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise InvalidSignature("unparsable Stripe-Signature header")
        if key == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise InvalidSignature("unparsable Stripe-Signature timestamp")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("Stripe-Signature header has no timestamp")
    if not signatures:
        raise InvalidSignature("Stripe-Signature header has no v1 signature")
    if len(signatures) > MAX_SIGNATURES:
        raise InvalidSignature("too many signatures in Stripe-Signature header")
    return timestamp, signatures


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance: int,
    now: float | None = None,
) -> int:
    """Return the signed timestamp, or raise InvalidSignature.

    Unlike stripe-python, a timestamp too far in the *future* is refused as well: a clock that
    far off, or a forged header, is not something to trust with a payment.
    """
    if not secrets:
        raise InvalidSignature("no webhook secret is configured")
    timestamp, signatures = parse_header(header)
    expected = [sign(body, secret, timestamp).encode() for secret in secrets]
    given = [s.encode("utf-8", "replace") for s in signatures]  # header text may be any latin-1
    # Compare every pair in constant time; `any` may stop early, but only on a match.
    if not any(hmac.compare_digest(e, g) for e in expected for g in given):
        raise InvalidSignature("no v1 signature matches a configured secret")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("signature timestamp is outside the tolerance")
    return timestamp
