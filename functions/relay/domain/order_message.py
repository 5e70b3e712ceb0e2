"""Order message v1 (storefront -> orders queue): parse and validate, or say why it is poison."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

SUPPORTED_VERSIONS: Final = frozenset({1})
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SLUG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_REF_LENGTH: Final = 256


@dataclass(frozen=True)
class OrderMessage:
    """A storefront's order message (v1), validated."""

    order_id: str
    storefront_ref: str | None
    version: int = 1
    # A message is poison only for its body, version or order id (README, "Order message"): a
    # paid order is never held back by its optional reference. An unusable one is dropped, and
    # said why here.
    dropped_ref: str | None = None


@dataclass(frozen=True)
class Poison:
    """A message that can never succeed; `reason` is a stable code, `detail` a human sentence."""

    reason: str
    detail: str


def is_valid_order_id(value: object) -> bool:
    """UUID, or at most 64 of [A-Za-z0-9_-]: safe to put into a URL path segment as is."""
    return isinstance(value, str) and bool(_UUID.fullmatch(value) or _SLUG.fullmatch(value))


def canonical_order_id(value: str) -> str:
    """UUIDs are case-insensitive: one spelling (lower case) keys the ledger and the webhook."""
    return value.lower() if _UUID.fullmatch(value) else value


def parse_order_message(body: str | None) -> OrderMessage | Poison:
    if body is None or body.strip() == "":
        return Poison("empty_body", "message body is empty")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return Poison("not_json", "message body is not valid JSON")
    if not isinstance(data, dict):
        return Poison("not_object", f"message body is JSON {type(data).__name__}, not an object")
    version = data.get("v")
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or version not in SUPPORTED_VERSIONS
    ):
        return Poison("unknown_version", f"unsupported message version v={_preview(version)}")
    if "order_id" not in data:
        return Poison("missing_order_id", "message has no order_id")
    order_id = data["order_id"]
    if not is_valid_order_id(order_id):
        return Poison(
            "invalid_order_id",
            f"order_id {_preview(order_id)} is not a UUID or 1-64 of [A-Za-z0-9_-]",
        )
    ref = data.get("storefront_ref")
    dropped = None
    if ref is not None and not (isinstance(ref, str) and len(ref) <= _MAX_REF_LENGTH):
        dropped = (
            f"storefront_ref {_preview(ref)} is not a string of at most {_MAX_REF_LENGTH} "
            "characters: delivered without it"
        )
        ref = None
    return OrderMessage(
        order_id=canonical_order_id(order_id),
        storefront_ref=ref,
        version=version,
        dropped_ref=dropped,
    )


def _preview(value: object, limit: int = 40) -> str:
    """A short, printable rendering of untrusted input for reasons and logs."""
    text = repr(value).encode("ascii", "backslashreplace").decode("ascii")
    if len(text) > limit:
        size = len(value) if isinstance(value, str) else len(text)
        text = text[:limit] + f"...({size} chars)"
    return text
