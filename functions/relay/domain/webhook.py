"""The delivery webhook contract (relay -> storefront): payload, signature, response classes."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from relay.domain.foxreload_order import FoxOrder

SIGNATURE_HEADER = "X-Relay-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]
    idempotency_key: str


def idempotency_key(order_id: str, event: str) -> str:
    return f"{order_id}:{event}"


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


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a storefront runs: constant-time compare, and reject stale timestamps (replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def signed_request(
    secret: str, order: FoxOrder, event: str, storefront_ref: str | None, now: float
) -> SignedRequest:
    payload = build_payload(order, event, storefront_ref, now)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    key = idempotency_key(order.id, event)
    headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: key,
        SIGNATURE_HEADER: sign(secret, int(now), body),
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
    no answer, and the 1xx/3xx design.md does not name: a redirect is not followed, and is more
    likely a misrouted endpoint being fixed than a refusal of this order) is retried later."""
    if status_code is None:
        return SinkVerdict.RETRY_LATER
    if 200 <= status_code < 300:
        return SinkVerdict.ACCEPTED
    if status_code in (401, 403):
        return SinkVerdict.UNAUTHORIZED
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return SinkVerdict.REJECTED
    return SinkVerdict.RETRY_LATER
