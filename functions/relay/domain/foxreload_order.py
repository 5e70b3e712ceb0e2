"""The FoxReload order object, read tolerantly: unknown fields ignored, unknown statuses kept."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from relay.domain.events import TERMINAL_STATUSES, TerminalStatus

KNOWN_STATUSES: Final = frozenset({"active", "paid", "processing"}) | TERMINAL_STATUSES
# A price is metadata (the spend estimate), never a reason to hold a delivery back. Anything
# that is not a finite, non-negative amount below this bound is ignored (and counted): a
# DynamoDB number cannot hold NaN, Infinity or more than 38 digits, and a negative price would
# shrink the spend index and inflate the balance estimate.
MAX_PRICE: Final = 1_000_000_000.0


class MalformedOrder(ValueError):
    """The body parsed as JSON but is not an order object we can act on."""


@dataclass(frozen=True)
class OrderItem:
    """One item of a FoxReload order: its delivered codes, or its error."""

    item_id: str | None
    codes: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class FoxOrder:
    """A FoxReload order as `GET /api/orders/{id}` or the list shows it (fields the relay uses)."""

    id: str
    status: str
    items: tuple[OrderItem, ...]
    total_price: float | None
    created_at: str | None
    payment_expires_at: str | None
    cancel_reason: str | None
    price_ignored: bool = False  # totalPrice was present but not a usable amount

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def code_count(self) -> int:
        return sum(len(item.codes) for item in self.items)

    def balance_signal(self, now: float) -> str | None:
        """Why this order says FoxReload could not take the money, if it does: cancelled for a
        payment failure, or still `active` (awaiting payment) past its paymentExpiresAt."""
        if self.status == TerminalStatus.CANCELLED and self.cancel_reason == "payment_failure":
            return "cancelled: payment_failure"
        if self.status == "active" and _before(self.payment_expires_at, now):
            return "active past paymentExpiresAt"
        return None


def parse_order(data: Any) -> FoxOrder:
    if not isinstance(data, dict):
        raise MalformedOrder("order is not a JSON object")
    order_id, status = data.get("id"), data.get("status")
    if not isinstance(order_id, str) or not order_id:
        raise MalformedOrder("order has no id")
    if not isinstance(status, str) or not status:
        raise MalformedOrder("order has no status")
    raw_items = data.get("items") or []
    if not isinstance(raw_items, list):
        raise MalformedOrder("order items is not a list")
    items = tuple(_parse_item(item) for item in raw_items)
    if status == TerminalStatus.COMPLETED and not items:
        raise MalformedOrder("completed order has no items")
    raw_price = data.get("totalPrice")
    price = parse_price(raw_price)
    return FoxOrder(
        id=order_id,
        status=status.lower(),
        items=items,
        total_price=price,
        price_ignored=raw_price is not None and price is None,
        created_at=_text(data.get("createdAt")),
        payment_expires_at=_text(data.get("paymentExpiresAt")),
        cancel_reason=_text(data.get("cancelReason")),
    )


def _parse_item(raw: Any) -> OrderItem:
    if not isinstance(raw, dict):
        raise MalformedOrder("order item is not an object")
    external = raw.get("externalData") or []
    if not isinstance(external, list):
        raise MalformedOrder("externalData is not a list")
    codes = tuple(_code_text(entry) for entry in external)
    item_id = raw.get("itemId", raw.get("id"))
    return OrderItem(
        item_id=None if item_id is None else str(item_id),
        codes=codes,
        error=_text(raw.get("error")),
    )


def _code_text(entry: Any) -> str:
    """A code entry is a string, or an object whose fields are the activation data."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        for key in ("code", "value", "pin", "serial"):
            if isinstance(entry.get(key), str):
                return str(entry[key])
        return json.dumps(entry, sort_keys=True)
    if isinstance(entry, int | float):
        return str(entry)
    raise MalformedOrder("externalData entry is neither text nor an object")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_price(value: Any) -> float | None:
    """A price as a bounded, finite, non-negative amount rounded to a tenth of a cent (how the
    ledger stores it); None for anything else (absent, text that is not a number, NaN,
    Infinity, "1e400", 41 digits, negative)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int):
        if abs(value) > MAX_PRICE:  # float() of a huge int may raise OverflowError
            return None
        value = float(value)
    if not isinstance(value, float) or not math.isfinite(value):
        return None
    if not 0.0 <= value <= MAX_PRICE:
        return None
    return round(value, 3)


def _before(iso: str | None, now: float) -> bool:
    """`iso` (an ISO 8601 time, `Z` allowed) is earlier than `now`; False when unreadable."""
    if not iso:
        return False
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:  # FoxReload's times are UTC; never the reader's local zone
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() < now
