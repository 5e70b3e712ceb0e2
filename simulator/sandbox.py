"""The simulated FoxReload account: orders, payments, balance, top-ups. No HTTP in here.

Every method takes the simulated time from the clock, so the HTTP layer, the control API and
in-process callers see the same state. Order status is computed from the timeline on each read.
"""

from __future__ import annotations

import heapq
import random
import string
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from simulator import timeline as tl
from simulator.catalog import DEFAULT_ITEM_ID, PRODUCTS_BY_ID
from simulator.clock import Clock
from simulator.config import SimulatorConfig

MAX_ITEMS: Final = 10
MAX_QUANTITY: Final = 10
MAX_PAGE_LIMIT: Final = 100
DEFAULT_PAGE_LIMIT: Final = 20
ITEM_ERRORS: Final = (
    "supplier_out_of_stock",
    "supplier_rejected",
    "region_not_supported",
)
# what a scripted GET may answer instead of the order
SCRIPTED_RESPONSES: Final = frozenset({"order", "malformed", "timeout", "slow"})
_CODE_ALPHABET: Final = string.ascii_uppercase + string.digits


class ApiError(Exception):
    """An error answer of the public API: HTTP status + FoxReload-style error body."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, **self.extra}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ItemRecord:
    item_id: str
    quantity: int
    note: str | None
    unit_price: float
    codes: tuple[str, ...]


@dataclass
class OrderRecord:
    id: str
    seq: int
    items: list[ItemRecord]
    total_price: float
    created_at: float
    payment_expires_at: float
    timeline: list[tl.Transition]
    failed_items: frozenset[int] = frozenset()
    item_error: str | None = None
    paid_at: float | None = None
    charged: float = 0.0
    scripted: bool = False
    responses: deque[int | str] = field(default_factory=deque)

    def status_at(self, now: float) -> tl.Transition:
        return tl.current(self.timeline, now)

    def to_json(self, now: float, stamp: Callable[[float], float] = lambda t: t) -> dict[str, Any]:
        """The public API's view at simulated time `now`; `stamp` maps simulated instants to the
        reported ones (Clock.relay_time; the control API keeps them simulated)."""
        state = self.status_at(now)
        items = []
        for index, item in enumerate(self.items):
            failed = index in self.failed_items and state.status in (tl.COMPLETED, tl.FAILED)
            delivered = state.status == tl.COMPLETED and not failed
            items.append(
                {
                    "itemId": item.item_id,
                    "quantity": item.quantity,
                    "note": item.note,
                    "price": item.unit_price,
                    "externalData": list(item.codes) if delivered else [],
                    "error": (self.item_error or ITEM_ERRORS[0]) if failed else None,
                }
            )
        return {
            "id": self.id,
            "status": state.status,
            "items": items,
            "totalPrice": self.total_price,
            "createdAt": iso(stamp(self.created_at)),
            "updatedAt": iso(stamp(max(state.at, self.created_at))),
            "paymentExpiresAt": iso(stamp(self.payment_expires_at)),
            "cancelReason": state.cancel_reason if state.status == tl.CANCELLED else None,
        }

    def internal_json(self, now: float) -> dict[str, Any]:
        """The sandbox view (/_sim/orders/{id}): the whole timeline and every code."""
        return {
            "order": self.to_json(now),
            "timeline": [
                {"status": t.status, "at": iso(t.at), "cancelReason": t.cancel_reason}
                for t in self.timeline
            ],
            "codes": [list(item.codes) for item in self.items],
            "failedItems": sorted(self.failed_items),
            "paidAt": iso(self.paid_at) if self.paid_at is not None else None,
            "charged": self.charged,
            "scripted": self.scripted,
            "pendingResponses": list(self.responses),
        }


@dataclass(frozen=True)
class ItemRequest:
    item_id: str
    quantity: int = 1
    note: str | None = None


def parse_items(raw: Any) -> list[ItemRequest]:
    """Validate the `items` of a create request (1-10 items, known products, quantity 1-10)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ITEMS:
        raise ApiError(400, "ValidationError", f"items must be a list of 1-{MAX_ITEMS} items")
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ApiError(400, "ValidationError", "each item must be an object")
        item_id, quantity, note = entry.get("itemId"), entry.get("quantity", 1), entry.get("note")
        if not isinstance(item_id, str) or not item_id:
            raise ApiError(400, "ValidationError", "itemId is required")
        if item_id not in PRODUCTS_BY_ID:
            raise ApiError(404, "ProductNotFound", f"no product {item_id!r}", itemId=item_id)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise ApiError(400, "ValidationError", "quantity must be an integer")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ApiError(400, "ValidationError", f"quantity must be 1-{MAX_QUANTITY}")
        if note is not None and not isinstance(note, str):
            raise ApiError(400, "ValidationError", "note must be a string")
        out.append(ItemRequest(item_id, quantity, note))
    return out


def parse_responses(raw: Any) -> list[int | str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError(400, "ValidationError", "responses must be a list")
    out: list[int | str] = []
    for entry in raw:
        if (isinstance(entry, int) and not isinstance(entry, bool) and 200 <= entry <= 599) or (
            isinstance(entry, str) and entry in SCRIPTED_RESPONSES
        ):
            out.append(entry)
        else:
            raise ApiError(
                400,
                "ValidationError",
                f"a response is an HTTP status or one of {sorted(SCRIPTED_RESPONSES)}",
            )
    return out


def parse_script(raw: Any) -> list[tuple[str, float, str | None]]:
    """[["processing", 0], ["completed", 2.0]] or [{"status":..,"at":..,"cancelReason":..}]."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "ValidationError", "timeline must be a non-empty list")
    steps: list[tuple[str, float, str | None]] = []
    for entry in raw:
        if isinstance(entry, list | tuple) and len(entry) in (2, 3):
            status, at, reason = entry[0], entry[1], entry[2] if len(entry) == 3 else None
        elif isinstance(entry, dict):
            status, at, reason = entry.get("status"), entry.get("at"), entry.get("cancelReason")
        else:
            raise ApiError(400, "ValidationError", "a timeline step is [status, seconds]")
        if not isinstance(status, str) or isinstance(at, bool) or not isinstance(at, int | float):
            raise ApiError(400, "ValidationError", "a timeline step is [status, seconds]")
        if reason is not None and not isinstance(reason, str):
            raise ApiError(400, "ValidationError", "cancelReason must be a string")
        steps.append((status, float(at), reason))
    return steps


class Sandbox:
    """One FoxReload account with its orders and balance (thread-safe)."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.timing = config.timing
        self._rng = random.Random(config.seed)
        self._lock = threading.RLock()
        self._orders: dict[str, OrderRecord] = {}
        self._seq = 0
        self._balance = config.initial_balance
        self._refunds: list[tuple[float, int, str]] = []
        self._topups: list[dict[str, Any]] = []
        self.spent = 0.0
        self.refunded = 0.0

    # -- helpers ---------------------------------------------------------------------------
    def _code(self) -> str:
        groups = ("".join(self._rng.choices(_CODE_ALPHABET, k=4)) for _ in range(3))
        return "FOX-" + "-".join(groups)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _settle(self, now: float) -> None:
        """Credit refunds whose failed/cancelled moment has come (independent of who reads)."""
        while self._refunds and self._refunds[0][0] <= now:
            _, _, order_id = heapq.heappop(self._refunds)
            order = self._orders[order_id]
            self._balance += order.charged
            self.refunded += order.charged

    def _get(self, order_id: str) -> OrderRecord:
        order = self._orders.get(order_id)
        if order is None:
            raise ApiError(404, "OrderNotFound", "order not found", id=order_id)
        return order

    # -- public API ------------------------------------------------------------------------
    def create_order(
        self,
        items: Sequence[ItemRequest],
        total_price: Any = None,
        *,
        script: Sequence[tuple[str, float, str | None]] | None = None,
        responses: Sequence[int | str] = (),
        item_error: str | None = None,
        failed_items: Sequence[int] = (),
    ) -> OrderRecord:
        with self._lock:
            now = self.clock.now()
            records = []
            for item in items:
                product = PRODUCTS_BY_ID[item.item_id]
                codes = tuple(self._code() for _ in range(item.quantity))
                records.append(
                    ItemRecord(item.item_id, item.quantity, item.note, product.price, codes)
                )
            total = round(sum(r.unit_price * r.quantity for r in records), 2)
            if total_price is not None:
                if isinstance(total_price, bool) or not isinstance(total_price, int | float):
                    raise ApiError(400, "ValidationError", "totalPrice must be a number")
                if abs(float(total_price) - total) > 0.005:
                    raise ApiError(
                        400,
                        "PriceMismatch",
                        "totalPrice does not match the current prices",
                        expected=total,
                    )
            if script is not None:
                try:
                    timeline = tl.scripted_timeline(now, script)
                except tl.TimelineError as exc:
                    raise ApiError(400, "ValidationError", str(exc)) from None
            else:
                timeline = tl.initial_timeline(now, self.timing.payment_window)
            self._seq += 1
            order = OrderRecord(
                id=self._uuid(),
                seq=self._seq,
                items=records,
                total_price=total,
                created_at=now,
                payment_expires_at=now + self.timing.payment_window,
                timeline=timeline,
                scripted=script is not None,
                responses=deque(responses),
                item_error=item_error,
                failed_items=frozenset(i for i in failed_items if 0 <= i < len(records)),
            )
            self._orders[order.id] = order
            return order

    def pay(self, order_id: str, *, charge: bool = True) -> OrderRecord:
        with self._lock:
            now = self.clock.now()
            self._settle(now)
            order = self._get(order_id)
            state = order.status_at(now)
            if order.paid_at is not None or state.status in (tl.PAID, tl.PROCESSING, tl.COMPLETED):
                raise ApiError(409, "OrderAlreadyPaid", "order is already paid", id=order_id)
            if state.status == tl.CANCELLED and state.cancel_reason == "payment_expiration":
                raise ApiError(400, "PaymentExpired", "the payment window has closed", id=order_id)
            if state.status in tl.TERMINAL:
                raise ApiError(409, "OrderNotPayable", f"order is {state.status}", id=order_id)
            amount = order.total_price if charge else 0.0
            if amount > self._balance + 1e-9:
                raise ApiError(
                    400,
                    "BalanceNotEnough",
                    "the account balance is too low for this order",
                    balance=round(self._balance, 2),
                    required=amount,
                )
            self._balance -= amount
            self.spent += amount
            order.charged, order.paid_at = amount, now
            if not order.scripted:
                outcome = tl.plan_after_payment(self.timing, now, len(order.items), self._rng)
                order.timeline = tl.replace_future(order.timeline, now, outcome.transitions)
                order.failed_items = outcome.failed_items
                if outcome.failed_items:
                    order.item_error = self._rng.choice(ITEM_ERRORS)
            end = order.timeline[-1]
            if self.config.refund_on_failure and amount and end.status in (tl.FAILED, tl.CANCELLED):
                heapq.heappush(self._refunds, (max(end.at, now), order.seq, order.id))
            return order

    def order(self, order_id: str) -> OrderRecord:
        with self._lock:
            return self._get(order_id)

    def order_json(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return self._get(order_id).to_json(self.clock.now(), self.clock.relay_time)

    def next_scripted_response(self, order_id: str) -> int | str | None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or not order.responses:
                return None
            return order.responses.popleft()

    def list_orders(self, status: str | None, page: int, limit: int) -> dict[str, Any]:
        if status is not None and status not in tl.STATUSES:
            raise ApiError(400, "ValidationError", f"status must be one of {list(tl.STATUSES)}")
        if page < 1 or limit < 1:
            raise ApiError(400, "ValidationError", "page and limit must be >= 1")
        limit = min(limit, MAX_PAGE_LIMIT)
        with self._lock:
            now = self.clock.now()
            newest_first = sorted(
                self._orders.values(), key=lambda o: (o.created_at, o.seq), reverse=True
            )
            views = [o.to_json(now, self.clock.relay_time) for o in newest_first]
        if status is not None:
            views = [v for v in views if v["status"] == status]
        start = (page - 1) * limit
        return {
            "items": views[start : start + limit],
            "page": page,
            "limit": limit,
            "total": len(views),
        }

    def counts_by_status(self) -> dict[str, int]:
        with self._lock:
            now = self.clock.now()
            counts = dict.fromkeys(tl.STATUSES, 0)
            for order in self._orders.values():
                counts[order.status_at(now).status] += 1
            return counts

    def balance(self) -> float:
        with self._lock:
            self._settle(self.clock.now())
            return round(self._balance, 2)

    def set_balance(self, amount: float) -> float:
        with self._lock:
            self._settle(self.clock.now())
            self._balance = float(amount)
            return self._balance

    def topup(self, amount: Any, currency: Any = "USDT") -> dict[str, Any]:
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
            raise ApiError(400, "ValidationError", "amount must be a positive number")
        if not isinstance(currency, str) or not currency:
            raise ApiError(400, "ValidationError", "currency must be a string")
        with self._lock:
            now = self.clock.now()
            self._settle(now)
            self._balance += float(amount)
            record = {
                "id": self._uuid(),
                "method": "crypto",
                "amount": float(amount),
                "currency": currency,
                "status": "completed",
                "createdAt": iso(self.clock.relay_time(now)),
            }
            self._topups.append(record)
            return dict(record)

    def list_topups(self, page: int, limit: int) -> dict[str, Any]:
        if page < 1 or limit < 1:
            raise ApiError(400, "ValidationError", "page and limit must be >= 1")
        limit = min(limit, MAX_PAGE_LIMIT)
        with self._lock:
            items = list(reversed(self._topups))
        start = (page - 1) * limit
        return {
            "items": items[start : start + limit],
            "page": page,
            "limit": limit,
            "total": len(items),
        }

    def order_ids(self) -> list[str]:
        with self._lock:
            return list(self._orders)

    def reset(self) -> None:
        with self._lock:
            self._orders.clear()
            self._refunds.clear()
            self._topups.clear()
            self._balance = self.config.initial_balance
            self.spent = self.refunded = 0.0


def default_items() -> list[ItemRequest]:
    return [ItemRequest(DEFAULT_ITEM_ID, 1)]
