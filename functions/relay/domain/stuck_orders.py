"""Stuck-order ratio: the seed's ">1% of orders not terminal within 10 minutes", made exact.

Pure: the stuck monitor hands over the ledger items it read; nothing here does I/O.

Definitions (W = the stuck window, 600 s by default; all times epoch seconds, UTC):

- An order's **acceptance** is `accepted_at`: the SentTimestamp of the first message the poller saw
  for it. It is written once (`if_not_exists`), so duplicate messages, whole-batch redelivery and
  a console redrive from the DLQ never move it. The ledger holds one item per order, so counting
  items counts orders; `judge` also de-duplicates by order id defensively.
- An order is **finished** at `outcome_at`: the moment the storefront accepted the webhook for
  its terminal outcome (delivered, failed or cancelled). Merely seeing a terminal status at
  FoxReload (`terminal_seen_at`) is not enough: the customer has nothing until the webhook lands.
  A dead-lettered order is not finished (unless it is later redriven and finishes in time).
- An order is **on time** when `outcome_at - accepted_at <= W` (inclusive: exactly 10:00 is on
  time, 9:59 is on time, 10:01 is stuck). Otherwise it is **stuck**.
- The **cohort** judged at evaluation time `now` is every order with
  `now - 2W < accepted_at <= now - W`: accepted in a W-long window whose every member has already
  had its full W to finish, so each verdict is final and never changes between evaluations. The
  lower bound is open and the upper closed, so consecutive windows of one length tile time
  without overlap or gap.
- An order finished after `now` (clock skew between writers) is treated as not yet finished:
  at `now` we cannot have seen it, and it is stuck anyway, since `now >= accepted_at + W`.
- **ratio** = stuck / cohort size, 0 when the cohort is empty (no orders, nothing stuck).
  The alarm compares it, as a percentage, with `STUCK_RATIO_ALARM_PERCENT` (1%).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from relay.names import AlarmThreshold

DEFAULT_WINDOW_SECONDS: Final = float(AlarmThreshold.STUCK_WINDOW_SECONDS)


@dataclass(frozen=True)
class LedgerOrder:
    """The fields of one ledger item that the monitors read (codes are never stored)."""

    order_id: str
    accepted_at: float
    outcome: str | None = None
    outcome_at: float | None = None
    terminal_seen_at: float | None = None
    total_price: Decimal | None = None
    cancel_reason: str | None = None
    dead_lettered_at: float | None = None


@dataclass(frozen=True)
class CohortWindow:
    """Acceptance times `start < accepted_at <= end` (start exclusive, end inclusive)."""

    start: float
    end: float

    def contains(self, accepted_at: float) -> bool:
        return self.start < accepted_at <= self.end


@dataclass(frozen=True)
class StuckReport:
    window: CohortWindow
    orders: int
    stuck: int
    stuck_order_ids: tuple[str, ...]  # sorted; for the log line, at most a handful are logged

    @property
    def ratio(self) -> float:
        return self.stuck / self.orders if self.orders else 0.0

    @property
    def percent(self) -> float:
        return 100.0 * self.ratio


def cohort_window(now: float, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> CohortWindow:
    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")
    return CohortWindow(start=now - 2 * window_seconds, end=now - window_seconds)


def is_on_time(order: LedgerOrder, now: float, window_seconds: float) -> bool:
    """Finished (storefront accepted the terminal webhook) within W of acceptance, seen at now."""
    if order.outcome is None or order.outcome_at is None:
        return False
    if order.outcome_at > now:
        return False
    return order.outcome_at - order.accepted_at <= window_seconds


def judge(
    orders: Iterable[LedgerOrder], now: float, window_seconds: float = DEFAULT_WINDOW_SECONDS
) -> StuckReport:
    """Count the cohort judged at `now` and how many of it are stuck."""
    window = cohort_window(now, window_seconds)
    by_id: dict[str, LedgerOrder] = {}
    for order in orders:
        if not window.contains(order.accepted_at):
            continue
        seen = by_id.get(order.order_id)
        # One item per order in the ledger; should a caller pass one twice, keep the earliest
        # acceptance and the finished version, so a duplicate never adds to either count.
        if seen is None or _prefer(order, seen, now, window_seconds):
            by_id[order.order_id] = order
    stuck_ids = sorted(
        order_id for order_id, order in by_id.items() if not is_on_time(order, now, window_seconds)
    )
    return StuckReport(
        window=window, orders=len(by_id), stuck=len(stuck_ids), stuck_order_ids=tuple(stuck_ids)
    )


def _prefer(candidate: LedgerOrder, seen: LedgerOrder, now: float, window: float) -> bool:
    if candidate.accepted_at != seen.accepted_at:
        return candidate.accepted_at < seen.accepted_at
    return is_on_time(candidate, now, window) and not is_on_time(seen, now, window)
