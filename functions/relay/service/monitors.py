"""The two scheduled checks, I/O-light orchestration around the pure domain.

`check_balance` and `check_stuck` take their readers as arguments (Protocols), so the handlers,
the operator CLI and the tests share them; `publish_*` turn a result into metrics. The metric
names, units and thresholds come from relay.names, the same module the CDK alarms import.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from relay.domain.balance import DAY_SECONDS, BalanceReport, Basis, assess
from relay.domain.stuck_orders import LedgerOrder, StuckReport, cohort_window, judge
from relay.names import AlarmThreshold, Metric
from relay.settings import DEFAULT_LEDGER_TTL_DAYS

# How far back the ledger can answer: its items expire after LEDGER_TTL_DAYS. A basis older
# than this cannot be estimated from: the spend since it has partly expired.
DEFAULT_HISTORY_SECONDS: Final = DEFAULT_LEDGER_TTL_DAYS * DAY_SECONDS


class BasisReader(Protocol):
    def basis(self) -> Basis | None: ...


class AcceptedOrders(Protocol):
    def accepted_between(self, start: float, end: float) -> list[LedgerOrder]: ...


class ChargedSpend(Protocol):
    def spend_between(self, start: float, end: float, now: float) -> Decimal: ...


class BalanceReader(Protocol):
    def read(self) -> Decimal: ...


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit | str, value: float) -> None: ...


@dataclass(frozen=True)
class BalanceCheck:
    report: BalanceReport | None  # None: no endpoint and nothing recorded yet
    spend_24h: Decimal
    endpoint_error: str | None = None  # the endpoint failed and the estimate was used
    stale_basis: bool = False  # the basis predates the ledger's history: record a fresh balance


def check_balance(
    basis_reader: BasisReader,
    spend: ChargedSpend,
    now: float,
    endpoint: BalanceReader | None = None,
    endpoint_error_type: type[Exception] = Exception,
    spend_multiple: float = AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE,
    history_seconds: float = DEFAULT_HISTORY_SECONDS,
) -> BalanceCheck:
    """`history_seconds`: how far back the ledger holds spend (its TTL, LEDGER_TTL_DAYS)."""
    endpoint_balance: Decimal | None = None
    endpoint_error: str | None = None
    if endpoint is not None:
        try:
            endpoint_balance = endpoint.read()
        except endpoint_error_type as exc:
            endpoint_error = str(exc)
    basis = basis_reader.basis()
    day_start = now - DAY_SECONDS
    spend_since_basis: Decimal | None = None
    stale = False
    if endpoint_balance is None and basis is not None:
        stale = basis.since < now - history_seconds
        since = min(now, max(basis.since, now - history_seconds))
        # Two disjoint windows, so no hour is read twice: (s, t] = (s, u] + (u, t].
        if since <= day_start:
            spend_24h = spend.spend_between(day_start, now, now)
            spend_since_basis = spend.spend_between(since, day_start, now) + spend_24h
        else:
            spend_since_basis = spend.spend_between(since, now, now)
            spend_24h = spend.spend_between(day_start, since, now) + spend_since_basis
    else:
        spend_24h = spend.spend_between(day_start, now, now)
    multiple = Decimal(str(spend_multiple))
    report = assess(basis, spend_since_basis, spend_24h, endpoint_balance, multiple)
    return BalanceCheck(
        report=report, spend_24h=spend_24h, endpoint_error=endpoint_error, stale_basis=stale
    )


def publish_balance(check: BalanceCheck, sink: MetricSink) -> None:
    sink.add_metric(name=Metric.SPEND_24H, unit=MetricUnit.NoUnit, value=float(check.spend_24h))
    unknown = 1.0 if check.report is None else 0.0
    sink.add_metric(name=Metric.BALANCE_UNKNOWN, unit=MetricUnit.Count, value=unknown)
    if check.report is None:
        return
    report = check.report
    sink.add_metric(
        name=Metric.ESTIMATED_BALANCE, unit=MetricUnit.NoUnit, value=float(report.balance)
    )
    sink.add_metric(
        name=Metric.RUNWAY_HOURS, unit=MetricUnit.NoUnit, value=round(report.runway_hours, 3)
    )


def check_stuck(orders: AcceptedOrders, now: float, window_seconds: float) -> StuckReport:
    window = cohort_window(now, window_seconds)
    return judge(orders.accepted_between(window.start, window.end), now, window_seconds)


def publish_stuck(report: StuckReport, sink: MetricSink) -> None:
    sink.add_metric(
        name=Metric.STUCK_ORDER_RATIO, unit=MetricUnit.Percent, value=round(report.percent, 4)
    )
    sink.add_metric(name=Metric.STUCK_ORDERS, unit=MetricUnit.Count, value=report.stuck)
    sink.add_metric(name=Metric.ORDERS_IN_STUCK_WINDOW, unit=MetricUnit.Count, value=report.orders)
