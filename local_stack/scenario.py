"""A storefront workload on the local stack, and the accounting of what became of every order.

Used by `make demo` and by tests/integration: create orders through FoxReload's public API
(create + pay, with the storefront's own key), send each one's order message right after its
payment, as a storefront does, wait until every
order is accounted for (a terminal webhook at the storefront receiver, or a dead letter), then
report. "Lost" = sent, but neither delivered/failed/cancelled at the receiver nor in the DLQ.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from local_stack.emf import function_logs, metric_totals
from local_stack.stack import RELAY_API_KEY, STOREFRONT_API_KEY, LocalStack
from operator_cli.dead_letters import DeadLetter, peek
from relay.domain.events import TERMINAL_STATUSES, TERMINALS, Event, LedgerOutcome
from relay.names import Metric
from simulator.catalog import PRODUCTS

# A terminal webhook at the receiver -> the order's outcome in the report (the ledger's word).
TERMINAL_EVENTS = {row.event.value: row.outcome.value for row in TERMINALS}
OUTCOMES = (*TERMINAL_EVENTS.values(), "dead-lettered", "lost")
CHEAP_PRODUCTS = tuple(p.id for p in PRODUCTS if p.price < 30)


class OrderCreationError(RuntimeError):
    pass


def place_orders(
    stack: LocalStack, count: int, *, seed: int = 7, workers: int = 8, pace: float = 0.0
) -> dict[str, float]:
    """Act as a storefront `count` times: create and pay an order over FoxReload's public API,
    then SendMessage its order message at once. Returns order id -> time the message was sent.

    `pace` > 0 spreads the orders out: order n is created no sooner than n x pace real seconds
    after the first (a steady arrival rate, as a live storefront has); 0 places them at once.
    """
    assert stack.simulator is not None
    stack.simulator.set_balance(max(stack.simulator.balance(), 60.0 * count))
    rng = random.Random(seed)
    items = [rng.choice(CHEAP_PRODUCTS) for _ in range(count)]
    sent: dict[str, float] = {}
    stack.client("sqs")  # made once, before the threads share it
    with httpx.Client(
        base_url=stack.simulator.base_url,
        headers={"X-API-Key": STOREFRONT_API_KEY},
        timeout=10.0,
    ) as http:
        first = time.monotonic()

        def one(index: int) -> None:
            time.sleep(max(0.0, first + index * pace - time.monotonic()))
            created = http.post(
                "/api/orders/", json={"items": [{"itemId": items[index], "quantity": 1}]}
            )
            if created.status_code != 201:
                raise OrderCreationError(f"create: HTTP {created.status_code} {created.text[:200]}")
            order_id = str(created.json()["id"])
            paid = http.post(f"/api/orders/{order_id}/pay")
            if paid.status_code >= 300:
                raise OrderCreationError(f"pay: HTTP {paid.status_code} {paid.text[:200]}")
            stack.send_order(order_id, storefront_ref=f"shop-{index:05d}")
            sent[order_id] = time.time()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(count)))
    return sent


@dataclass
class Progress:
    total: int
    delivered: int
    failed_or_cancelled: int
    in_flight: int
    dlq: int
    elapsed: float


@dataclass(frozen=True)
class Counters:
    """Cumulative counters of a running stack; a report covers the difference of two."""

    relay_requests: Counter[str]  # by endpoint, the relay's API key only
    rate_limited: int
    faults: Counter[str]
    metrics: Counter[str]  # the relay's own EMF metrics, from the function logs

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.relay_requests - other.relay_requests,
            self.rate_limited - other.rate_limited,
            self.faults - other.faults,
            self.metrics - other.metrics,
        )


def counters(stack: LocalStack) -> Counters:
    assert stack.simulator is not None
    snap = stack.simulator.stats_snapshot()
    return Counters(
        relay_requests=Counter(snap["requestsByKey"].get(RELAY_API_KEY, {})),
        rate_limited=int(snap["rateLimited"]),
        faults=Counter(snap.get("faults", {})),
        metrics=metric_totals(function_logs(stack.log_dir)),
    )


@dataclass
class Report:
    sent: int
    outcomes: dict[str, int]
    lost: list[str]
    duplicate_deliveries: int
    code_mismatches: list[str]
    lag_seconds: list[float]  # FoxReload turned the order terminal -> storefront accepted it
    time_to_deliver_seconds: list[float]  # message sent -> storefront accepted it
    api_requests: int  # every relay request to FoxReload (the storefront's own excluded)
    order_gets: int
    rate_limited: int
    sweep_requests: int  # order list pages the sweeper read
    deferrals: int  # per-order polls skipped because the sweep covered the order
    budget_waits: int  # per-order polls postponed for the shared request budget
    faults: dict[str, int]
    dead_letters: list[dict[str, Any]]
    wall_seconds: float
    timed_out: bool
    outcome_by_order: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.lost and self.duplicate_deliveries == 0 and not self.code_mismatches

    @property
    def requests_per_order(self) -> float:
        return self.api_requests / self.sent if self.sent else 0.0

    @property
    def requests_per_delivered(self) -> float | None:
        delivered = self.outcomes.get(LedgerOutcome.DELIVERED, 0)
        return self.api_requests / delivered if delivered else None

    @property
    def rate_limited_share(self) -> float:
        """429s as a share of the relay's requests (0..1)."""
        return self.rate_limited / self.api_requests if self.api_requests else 0.0

    def percentiles(self, values: list[float]) -> dict[str, float | None]:
        return {f"p{p}": percentile(values, p) for p in (50, 95, 99)}

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "outcomes": self.outcomes,
            "lost": self.lost,
            "duplicateDeliveries": self.duplicate_deliveries,
            "codeMismatches": self.code_mismatches,
            "deliveryLagSeconds": self.percentiles(self.lag_seconds),
            "timeToDeliverSeconds": self.percentiles(self.time_to_deliver_seconds),
            "apiRequests": self.api_requests,
            "apiRequestsPerOrder": round(self.requests_per_order, 2),
            "apiRequestsPerDelivered": (
                None
                if self.requests_per_delivered is None
                else round(self.requests_per_delivered, 2)
            ),
            "orderGets": self.order_gets,
            "rateLimited": self.rate_limited,
            "rateLimitedShare": round(self.rate_limited_share, 4),
            "sweepRequests": self.sweep_requests,
            "sweepDeferrals": self.deferrals,
            "budgetWaits": self.budget_waits,
            "faults": self.faults,
            "deadLetters": self.dead_letters,
            "wallSeconds": round(self.wall_seconds, 1),
            "timedOut": self.timed_out,
            "ok": self.ok,
        }


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)


def _terminal_outcomes(stack: LocalStack, ids: set[str]) -> dict[str, str]:
    assert stack.receiver is not None
    out: dict[str, str] = {}
    for order_id, events in stack.receiver.events_by_order().items():
        if order_id in ids:
            for event in events:
                if event in TERMINAL_EVENTS:
                    out.setdefault(order_id, TERMINAL_EVENTS[event])
    return out


def _dead_letters(stack: LocalStack, ids: set[str]) -> dict[str, DeadLetter]:
    assert stack.resources is not None
    letters = peek(stack.client("sqs"), stack.resources.dlq_url)
    return {d.order_id: d for d in letters if d.order_id in ids}


def wait_for_outcomes(
    stack: LocalStack,
    sent: dict[str, float],
    *,
    timeout: float,
    on_progress: Callable[[Progress], None] | None = None,
    interval: float = 0.5,
    started: float | None = None,
) -> bool:
    """Block until every sent order is terminal at the receiver or in the DLQ; False on timeout.

    `started` (time.monotonic()) is where the progress clock and the timeout count from.
    """
    ids = set(sent)
    started = time.monotonic() if started is None else started
    while True:
        terminal = _terminal_outcomes(stack, ids)
        depths = stack.queue_depths()
        if on_progress is not None:
            delivered = sum(1 for o in terminal.values() if o == LedgerOutcome.DELIVERED)
            on_progress(
                Progress(
                    total=len(ids),
                    delivered=delivered,
                    failed_or_cancelled=len(terminal) - delivered,
                    in_flight=depths["visible"] + depths["in_flight"],
                    dlq=depths["dlq"],
                    elapsed=time.monotonic() - started,
                )
            )
        pending = ids - set(terminal)
        if not pending:
            return True
        if len(pending) <= depths["dlq"] and pending <= set(_dead_letters(stack, ids)):
            return True
        if time.monotonic() - started > timeout:
            return False
        time.sleep(interval)


def build_report(
    stack: LocalStack,
    sent: dict[str, float],
    *,
    wall_seconds: float,
    timed_out: bool,
    since: Counters | None = None,
) -> Report:
    """What became of `sent`; request and metric counts are those since `since` (taken with
    `counters(stack)` before the orders were placed), or since the stack started."""
    assert stack.receiver is not None and stack.simulator is not None
    ids = set(sent)
    terminal = _terminal_outcomes(stack, ids)
    letters = _dead_letters(stack, ids)
    outcome_by_order: dict[str, str] = {}
    for order_id in sorted(ids):
        if order_id in terminal:
            outcome_by_order[order_id] = terminal[order_id]
        elif order_id in letters:
            outcome_by_order[order_id] = "dead-lettered"
        else:
            outcome_by_order[order_id] = "lost"
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcome_by_order.values():
        counts[outcome] += 1

    duplicates = sum(
        n for key, n in stack.receiver.duplicates().items() if key.split(":", 1)[0] in ids
    )
    lag, ttd, mismatches = _timings_and_codes(stack, sent)
    now = counters(stack)
    delta = now - since if since is not None else now
    requests = delta.relay_requests
    return Report(
        sent=len(ids),
        outcomes=counts,
        lost=[o for o, outcome in outcome_by_order.items() if outcome == "lost"],
        duplicate_deliveries=duplicates,
        code_mismatches=mismatches,
        lag_seconds=lag,
        time_to_deliver_seconds=ttd,
        api_requests=sum(requests.values()),
        order_gets=requests.get("get_order", 0),
        rate_limited=delta.rate_limited,
        sweep_requests=requests.get("list_orders", 0),
        deferrals=int(delta.metrics.get(Metric.SWEEP_DEFERRALS, 0)),
        budget_waits=int(delta.metrics.get(Metric.BUDGET_WAITS, 0)),
        faults=dict(delta.faults),
        dead_letters=[
            {"order_id": d.order_id, "reason": d.reason, "detail": d.detail}
            for d in letters.values()
        ],
        wall_seconds=wall_seconds,
        timed_out=timed_out,
        outcome_by_order=outcome_by_order,
    )


def _timings_and_codes(
    stack: LocalStack, sent: dict[str, float]
) -> tuple[list[float], list[float], list[str]]:
    """Lags from the simulator's timeline (simulated -> real seconds) and a code check."""
    assert stack.receiver is not None and stack.simulator is not None
    sim = stack.simulator
    now_real, now_sim = time.time(), sim.clock.now()
    scale = sim.clock.scale
    lag: list[float] = []
    ttd: list[float] = []
    mismatches: list[str] = []
    for key, delivery in stack.receiver.unique_deliveries().items():
        order_id = key.split(":", 1)[0]
        if order_id not in sent:
            continue
        ttd.append(delivery.received_at - sent[order_id])
        record = sim.sandbox.order(order_id)
        terminal_at = next(
            (t.at for t in reversed(record.timeline) if t.status in TERMINAL_STATUSES), None
        )
        if terminal_at is not None:
            became_terminal = now_real - (now_sim - terminal_at) / scale
            lag.append(max(0.0, delivery.received_at - became_terminal))
        if delivery.event == Event.DELIVERED and _delivered_codes(delivery) != _expected_codes(
            sim.order(order_id)
        ):
            mismatches.append(order_id)
    return lag, ttd, mismatches


def _delivered_codes(delivery: Any) -> list[list[str]]:
    return [sorted(codes) for codes in delivery.codes()]


def _expected_codes(order_json: dict[str, Any]) -> list[list[str]]:
    return [sorted(item.get("externalData") or []) for item in order_json.get("items", [])]
