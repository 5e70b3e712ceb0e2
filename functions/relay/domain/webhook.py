"""The delivery webhook contract (relay -> storefront): payload, signatures, response classes.

Every delivery carries two signatures over the same body:

- Standard Webhooks (https://www.standardwebhooks.com/): `webhook-id` (= the Idempotency-Key),
  `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256(key,
  "<id>.<timestamp>.<body>")>`, space-separated when several keys sign). The key is the base64
  after `whsec_`; a secret without that prefix is used as its own UTF-8 bytes.
- `X-Relay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (Stripe's
  scheme; Stripe's libraries verify it). Its key is the whole secret string's UTF-8 bytes,
  `whsec_` prefix included, exactly as Stripe uses its own `whsec_` secrets.

The secret value is one secret, or during a rotation the JSON object
`{"current": "<secret>", "previous": "<secret>"}`: then both sign (current first), so a
storefront holding either one accepts every delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from relay.domain.foxreload_order import FoxOrder

SIGNATURE_HEADER = "X-Relay-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
WHSEC_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300.0
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # unix seconds; anything longer is malformed, not far off


class WebhookSecretError(ValueError):
    """The webhook secret's value is not in a format the relay understands (never shows it)."""


@dataclass(frozen=True)
class SigningKey:
    """The webhook secret in the two forms the relay signs with."""

    relay_key: bytes  # X-Relay-Signature: the secret string's UTF-8 bytes
    standard_key: bytes  # webhook-signature: base64-decoded after whsec_, else the UTF-8 bytes


@dataclass(frozen=True)
class SignedRequest:
    """A webhook body with its signature headers and idempotency key."""

    body: bytes
    headers: dict[str, str]
    idempotency_key: str


def idempotency_key(order_id: str, event: str) -> str:
    return f"{order_id}:{event}"


def signing_keys(secret: str) -> tuple[SigningKey, ...]:
    """The keys a secret value holds: one, or (rotation) current then previous.

    A value starting with `{` is the rotation object `{"current": s, "previous": s | null}`;
    anything else is one secret. Raises WebhookSecretError for a value it cannot use."""
    if not secret.lstrip().startswith("{"):
        return (_key(secret),)
    try:
        parsed = json.loads(secret)
    except (ValueError, RecursionError):
        raise WebhookSecretError("webhook secret starts with '{' but is not JSON") from None
    current = parsed.get("current") if isinstance(parsed, dict) else None
    previous = parsed.get("previous") if isinstance(parsed, dict) else None
    if not isinstance(current, str) or not current:
        raise WebhookSecretError('webhook secret JSON needs a non-empty string "current"')
    if previous in (None, "", current):
        return (_key(current),)
    if not isinstance(previous, str):
        raise WebhookSecretError('webhook secret JSON "previous" must be a string or null')
    return (_key(current), _key(previous))


def _key(secret: str) -> SigningKey:
    if not secret:
        raise WebhookSecretError("webhook secret is empty")
    try:
        raw = secret.encode()
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a JSON \ud800 escape
        raise WebhookSecretError("webhook secret is not valid Unicode text") from None
    if not secret.startswith(WHSEC_PREFIX):
        return SigningKey(relay_key=raw, standard_key=raw)
    encoded = secret[len(WHSEC_PREFIX) :]
    try:
        standard = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSecretError("webhook secret after whsec_ is not base64") from None
    if not standard:
        raise WebhookSecretError("webhook secret after whsec_ is empty")
    return SigningKey(relay_key=raw, standard_key=standard)


def build_payload(
    order: FoxOrder, event: str, storefront_ref: str | None, occurred_at: float
) -> dict[str, Any]:
    return {
        "event": event,
        "order_id": order.id,
        "storefront_ref": storefront_ref,
        "status": order.status,
        "items": [
            {"item_id": item.item_id, "codes": list(item.codes), "error": item.error}
            for item in order.items
        ],
        "cancel_reason": order.cancel_reason,
        "occurred_at": datetime.fromtimestamp(occurred_at, UTC).isoformat().replace("+00:00", "Z"),
    }


def _relay_mac(key: SigningKey, timestamp: int, body: bytes) -> str:
    return hmac.new(key.relay_key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _standard_mac(key: SigningKey, msg_id: str, timestamp: int, body: bytes) -> bytes:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key.standard_key, content, hashlib.sha256).digest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """X-Relay-Signature: `t=<timestamp>,v1=<hex>[,v1=<hex of the previous secret>]`."""
    macs = ",".join(f"v1={_relay_mac(k, timestamp, body)}" for k in signing_keys(secret))
    return f"t={timestamp},{macs}"


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """webhook-signature: `v1,<base64>[ v1,<base64 of the previous secret>]`."""
    return " ".join(
        "v1," + base64.b64encode(_standard_mac(k, msg_id, timestamp, body)).decode()
        for k in signing_keys(secret)
    )


def _fresh_timestamp(value: str, now: float, tolerance: float) -> int | None:
    if not _TIMESTAMP.fullmatch(value):
        return None
    timestamp = int(value)
    return timestamp if abs(now - timestamp) <= tolerance else None


def _keys_or_none(secret: str) -> tuple[SigningKey, ...] | None:
    try:
        return signing_keys(secret)
    except WebhookSecretError:
        return None


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a storefront runs on X-Relay-Signature: True when one `v1` matches one of the
    secret's keys (either side of a rotation) and `t` is within `tolerance` of `now` (replays).
    Constant-time compare; False, never an exception, on any malformed header or secret."""
    if not (isinstance(secret, str) and isinstance(header, str) and isinstance(body, bytes)):
        return False
    stamps: list[str] = []
    candidates: list[bytes] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep and name == "t":
            stamps.append(value)
        elif sep and name == "v1":
            candidates.append(value.encode("utf-8", "replace"))
    if len(stamps) != 1 or not candidates:
        return False
    timestamp = _fresh_timestamp(stamps[0], now, tolerance)
    keys = _keys_or_none(secret)
    if timestamp is None or keys is None:
        return False
    expected = [_relay_mac(k, timestamp, body).encode() for k in keys]
    return _any_match(expected, candidates)


def verify_standard(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """The Standard Webhooks check (what its libraries do): webhook-id, webhook-timestamp and
    webhook-signature present, the timestamp within `tolerance` of `now`, and one `v1,` entry
    matching one of the secret's keys. False, never an exception, on malformed input."""
    if not (isinstance(secret, str) and isinstance(body, bytes)):
        return False
    lowered = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lowered.get(WEBHOOK_ID_HEADER)
    stamp = lowered.get(WEBHOOK_TIMESTAMP_HEADER)
    signature = lowered.get(WEBHOOK_SIGNATURE_HEADER)
    if not (isinstance(msg_id, str) and isinstance(stamp, str) and isinstance(signature, str)):
        return False
    if not msg_id or not msg_id.isprintable() or not msg_id.isascii():
        return False  # the relay's ids are ASCII; this also keeps the signed content encodable
    timestamp = _fresh_timestamp(stamp.strip(), now, tolerance)
    keys = _keys_or_none(secret)
    if timestamp is None or keys is None:
        return False
    candidates: list[bytes] = []
    for entry in signature.split():
        version, sep, encoded = entry.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    expected = [_standard_mac(k, msg_id, timestamp, body) for k in keys]
    return _any_match(expected, candidates)


def _any_match(expected: list[bytes], candidates: list[bytes]) -> bool:
    matched = False
    for want in expected:
        for got in candidates:
            matched |= hmac.compare_digest(want, got)  # no early exit: same work either way
    return matched


def signed_request(
    secret: str,
    order: FoxOrder,
    event: str,
    storefront_ref: str | None,
    now: float,
    occurred_at: float | None = None,
) -> SignedRequest:
    """The request for one attempt. `now` stamps the signatures; the body depends only on the
    order and `occurred_at` (when the relay first saw the order terminal; `now` if not given),
    so every attempt under one Idempotency-Key sends the same bytes."""
    payload = build_payload(
        order, event, storefront_ref, now if occurred_at is None else occurred_at
    )
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    key = idempotency_key(order.id, event)
    timestamp = int(now)
    headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: key,
        WEBHOOK_ID_HEADER: key,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: sign_standard(secret, key, timestamp, body),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    return SignedRequest(body=body, headers=headers, idempotency_key=key)


class SinkVerdict(Enum):
    ACCEPTED = "accepted"
    RETRY_LATER = "retry_later"
    REJECTED = "rejected"
    # 401/403: the storefront did not accept the signature (or the caller). Almost always a
    # webhook-secret rotation half done, so it is retried (after re-reading the secret), not a
    # refusal of this order.
    UNAUTHORIZED = "unauthorized"


def classify_sink_status(status_code: int | None) -> SinkVerdict:
    """2xx accepted; any other 4xx than 408/429 is permanent; everything else (408, 429, 5xx,
    no answer, and the 1xx/3xx the README's webhook contract does not name: a redirect is not
    followed, and is more likely a misrouted endpoint being fixed than a refusal of this order)
    is retried later."""
    if status_code is None:
        return SinkVerdict.RETRY_LATER
    if 200 <= status_code < 300:
        return SinkVerdict.ACCEPTED
    if status_code in (401, 403):
        return SinkVerdict.UNAUTHORIZED
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return SinkVerdict.REJECTED
    return SinkVerdict.RETRY_LATER
