"""FoxReload account balance: estimate, 24 h spend, runway. Pure arithmetic, no I/O.

FoxReload documents no balance read endpoint, so unless one is configured the relay estimates:

    balance = basis.amount - spend since basis.since

where the **basis** folds the operator's records in time order: a `balance` record (what the
FoxReload dashboard showed) resets it to that amount at that time; a `topup` record adds its amount
and keeps the time. With only top-ups on record the basis starts at the first top-up with 0 before
it (the seed's "estimate from top-up history").

**Spend** is what the poller recorded for each order it saw `completed` or `failed`: the order's
`total_price`, charged at `terminal_seen_at` (the first moment the relay saw it terminal; the
debit happened at payment, shortly before). Which statuses cost money is an assumption until
FoxReload says otherwise, kept in one place: the `charged` column of relay.domain.events
(`completed` and `failed` are charged: a failed order may be partly fulfilled, and over-counting
spend only makes the alarm earlier; `cancelled` is not: payment failed or expired, or the order
was withdrawn before payment). A spend window is half-open,
`start < charged_at <= end`: a balance recorded at T already includes every debit up to T. The
sums themselves come from the ledger's spend index (relay.adapters.spend_index).

Money is `Decimal` throughout: DynamoDB numbers arrive as decimal strings, and the estimate must
not drift with float rounding over thousands of orders.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

from relay.names import AlarmThreshold

DAY_SECONDS: Final = 86_400.0
# RunwayHours when nothing was spent in 24 h: CloudWatch takes no infinity; a year is "plenty".
RUNWAY_CAP_HOURS: Final = 24.0 * 365


class RecordKind(StrEnum):
    BALANCE = "balance"  # the balance FoxReload shows, as of recorded_at
    TOPUP = "topup"  # an amount added to the balance at recorded_at


@dataclass(frozen=True)
class BalanceRecord:
    kind: RecordKind
    amount: Decimal
    recorded_at: float  # epoch seconds
    note: str | None = None
    record_id: str = ""  # unique per record; orders records that share a timestamp

    def __post_init__(self) -> None:
        if not self.amount.is_finite():
            raise ValueError("amount must be a finite number")
        if self.kind is RecordKind.TOPUP and self.amount <= 0:
            raise ValueError("a top-up must be positive")
        if self.kind is RecordKind.BALANCE and self.amount < 0:
            raise ValueError("a recorded balance cannot be negative")


@dataclass(frozen=True)
class Basis:
    """The balance was `amount` at `since`, before any spend after `since`."""

    amount: Decimal
    since: float
    anchored: bool  # a `balance` record exists; False: top-ups only, counted from zero


def apply(basis: Basis | None, record: BalanceRecord) -> Basis:
    """Fold one record, newer than every record already folded into `basis`."""
    if record.kind is RecordKind.BALANCE:
        return Basis(amount=record.amount, since=record.recorded_at, anchored=True)
    if basis is None:
        return Basis(amount=record.amount, since=record.recorded_at, anchored=False)
    return Basis(amount=basis.amount + record.amount, since=basis.since, anchored=basis.anchored)


def fold(records: Iterable[BalanceRecord]) -> Basis | None:
    basis: Basis | None = None
    for record in sorted(records, key=lambda r: (r.recorded_at, r.record_id)):
        basis = apply(basis, record)
    return basis


def estimate(basis: Basis, spend_since_basis: Decimal) -> Decimal:
    return basis.amount - spend_since_basis


def runway_hours(balance: Decimal, spend_24h: Decimal) -> float:
    """Hours until the balance runs out at the last 24 h's average rate (0 when already out)."""
    if balance <= 0:
        return 0.0
    if spend_24h <= 0:
        return RUNWAY_CAP_HOURS
    return min(RUNWAY_CAP_HOURS, float(balance * 24 / spend_24h))


def is_low(
    balance: Decimal,
    spend_24h: Decimal,
    multiple: Decimal = Decimal(AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE),
) -> bool:
    """The seed's rule, exactly as the alarm evaluates it: balance < k x last 24 h spend (k = 2
    unless lowBalanceSpendMultiple says otherwise), or nothing left at all."""
    return balance <= 0 or balance < multiple * spend_24h


@dataclass(frozen=True)
class BalanceReport:
    balance: Decimal
    spend_24h: Decimal
    source: str  # "endpoint" or "estimate"
    basis: Basis | None = None
    spend_multiple: Decimal = Decimal(AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE)

    @property
    def runway_hours(self) -> float:
        return runway_hours(self.balance, self.spend_24h)

    @property
    def low(self) -> bool:
        return is_low(self.balance, self.spend_24h, self.spend_multiple)


def assess(
    basis: Basis | None,
    spend_since_basis: Decimal | None,
    spend_24h: Decimal,
    endpoint_balance: Decimal | None = None,
    spend_multiple: Decimal = Decimal(AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE),
) -> BalanceReport | None:
    """The report to publish, or None when there is nothing to estimate from (no record yet).
    `spend_since_basis` is only needed (and only read) when estimating."""
    if endpoint_balance is not None:
        return BalanceReport(endpoint_balance, spend_24h, "endpoint", basis, spend_multiple)
    if basis is None or spend_since_basis is None:
        return None
    balance = estimate(basis, spend_since_basis)
    return BalanceReport(balance, spend_24h, "estimate", basis, spend_multiple)


class BalanceResponseError(ValueError):
    """The balance endpoint answered with something that holds no readable balance."""


_BALANCE_KEYS: Final = ("balance", "amount", "available", "value")


def parse_balance_response(data: Any) -> Decimal:
    """Read a balance from a tolerant set of shapes: a number, or an object (possibly nested
    under `data`) with one of `balance`, `amount`, `available`, `value`."""
    for _ in range(3):
        if isinstance(data, dict) and "data" in data and not _has_balance_key(data):
            data = data["data"]
    if isinstance(data, dict):
        for key in _BALANCE_KEYS:
            if key in data:
                return _decimal(data[key])
        raise BalanceResponseError("no balance field in the response")
    return _decimal(data)


def _has_balance_key(data: dict[str, Any]) -> bool:
    return any(key in data for key in _BALANCE_KEYS)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | dict):
        raise BalanceResponseError("balance is not a number")
    if isinstance(value, dict):
        return parse_balance_response(value)
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise BalanceResponseError("balance is not a number") from exc
    if not result.is_finite() or (isinstance(value, float) and not math.isfinite(value)):
        raise BalanceResponseError("balance is not finite")
    return result
