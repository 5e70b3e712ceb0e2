"""One page of FoxReload's order list, read for the sweep: parsed orders on the relay's clock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from relay.domain.foxreload_order import FoxOrder, MalformedOrder, parse_order
from relay.domain.sweep import ListedOrder


@dataclass(frozen=True)
class OrderPage:
    orders: tuple[FoxOrder, ...]
    listed: tuple[ListedOrder, ...]  # same order, createdAt on the relay's clock


def parse_order_page(body: bytes, server_date: str | None, relay_now: float) -> OrderPage:
    """Parse `{"items": [...]}` (or a bare list). Raises MalformedOrder on a bad page.

    `createdAt` is on FoxReload's clock. The response's `Date` header tells FoxReload's now, so
    an order's age is `server now - createdAt` whatever the skew between the two clocks (an
    accelerated simulator reports both on the relay's clock, so its ages are relay seconds too).
    Without a usable Date header, the two clocks are taken to agree.
    """
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedOrder("order page is not JSON") from exc
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MalformedOrder("order page has no items list")
    orders = tuple(parse_order(item) for item in items)
    server_now = _http_date(server_date)
    listed = []
    for order in orders:
        created = _iso(order.created_at)
        if created is None:
            raise MalformedOrder("listed order has no createdAt")
        age = server_now - created if server_now is not None else None
        created_relay = relay_now - max(0.0, age) if age is not None else created
        listed.append(ListedOrder(order.id, order.status, created_relay))
    return OrderPage(orders, tuple(listed))


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _iso(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
