"""Delivery guarantees under stress on the local stack: a storefront outage longer than the
supplier deadline, and a redrive of 200 dead letters while the sweeper runs.

These tests run on a stack of their own (module scope), not the session's: they need a supplier
deadline shorter than the session's 90 s (an outage has to outlast it in seconds, not minutes),
the storefront breaker's state to themselves (it is one item in the ledger table), and a DLQ
that holds only their own dead letters. Pollers are started per test.

Timing (real seconds): x10 as the session, but GIVE_UP_AFTER_SECONDS is 12 (120 simulated s,
a deadline cdk.json could configure) instead of 90. The breaker's probe interval (30 s), the
webhook retry backoff (10 s, doubling) and the delivery lease (45 s) are not scaled, as in
production. The relay key's limit is raised to 1,500 per simulated minute: with the sweeper
running, per-order polls get 15 % of the budget, and a redrive re-reads every order's codes with
one GET each; at the default limit the 200 GETs alone would take about 100 s here. What is
checked is what becomes of each order, not the request rate (the session's tests do that).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.scenario import build_report, counters
from local_stack.stack import LocalStack, LocalStackOptions
from relay.adapters.ledger import LedgerTable
from relay.domain.storefront_breaker import BreakerConfig
from relay.names import Metric
from relay.settings import ENV_NAMES
from tests.integration.conftest import TIMING
from tests.integration.wire_helpers import (
    dead_letters,
    operator_cli,
    sweep_coverage_fresh,
    wait_until,
)

pytestmark = pytest.mark.wire

TIME_SCALE = 10.0
GIVE_UP_AFTER_SECONDS = 12.0
RATE_LIMIT_PER_SIM_MINUTE = 1500
POLLERS = 3
EXPECTED_EVENT = {
    "completed": "order.delivered",
    "failed": "order.failed",
    "cancelled": "order.cancelled",
}
EXPECTED_OUTCOME = {"completed": "delivered", "failed": "failed", "cancelled": "cancelled"}


@pytest.fixture(scope="module")
def stress_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = LocalStackOptions(
        time_scale=TIME_SCALE,
        rate_limit_per_minute=RATE_LIMIT_PER_SIM_MINUTE,
        timing=TIMING,
        seed=4321,
        log_dir=tmp_path_factory.mktemp("stress-stack"),
        allow_moto_dynamodb=False,
        poller_overrides={
            ENV_NAMES["give_up_after_seconds"]: f"{GIVE_UP_AFTER_SECONDS:g}",
            # These scenarios are about the sweep running through an incident; left to choose,
            # the sweeper would hand a few hundred orders an hour to per-order polling.
            ENV_NAMES["sweep_strategy"]: "always",
        },
    )
    with LocalStack(options) as local:
        assert local.sweeper is not None, "cdk.json enables the sweep"
        assert local.sweeper.wait_ready(timeout=120), "sweeper did not start"
        yield local


@pytest.fixture(scope="module")
def stress_pollers(stress_stack: LocalStack) -> Iterator[EsmRunner]:
    with stress_stack.runner(pollers=POLLERS) as runner:
        assert runner.wait_ready(timeout=120), "pollers did not start"
        yield runner


@pytest.fixture(scope="module")
def stress_state_file(stress_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stress_stack.write_state(tmp_path_factory.mktemp("stress-state") / "state.json")


def _scripted_orders(stack: LocalStack, count: int) -> dict[str, str]:
    """Orders FoxReload makes terminal within 0.1-4 real s (long before the deadline): most
    completed, every tenth cancelled. Returns order id -> FoxReload's final status."""
    assert stack.simulator is not None
    out: dict[str, str] = {}
    for i in range(count):
        at = 1 + (i * 7) % 40  # simulated seconds
        final = ["cancelled", at, "out_of_stock"] if i % 10 == 9 else ["completed", at]
        order = stack.simulator.create_order(timeline=[["paid", 0], final])
        out[str(order["id"])] = str(final[0])
    return out


def _send(stack: LocalStack, orders: dict[str, str]) -> dict[str, float]:
    """One order message v1 per order, ten per SendMessageBatch; order id -> when sent."""
    assert stack.resources is not None
    sqs = stack.client("sqs")
    ids = list(orders)
    sent: dict[str, float] = {}
    for start in range(0, len(ids), 10):
        chunk = ids[start : start + 10]
        entries = [
            {
                "Id": str(n),
                "MessageBody": json.dumps(
                    {"v": 1, "order_id": order_id, "storefront_ref": f"stress-{start + n:04d}"},
                    separators=(",", ":"),
                ),
            }
            for n, order_id in enumerate(chunk)
        ]
        response = sqs.send_message_batch(
            QueueUrl=stack.resources.orders_queue_url, Entries=entries
        )
        assert not response.get("Failed"), response["Failed"]
        sent.update(dict.fromkeys(chunk, time.time()))
    return sent


def _assert_each_delivered_once(stack: LocalStack, orders: dict[str, str]) -> None:
    """At the receiver: one accepted delivery per order, of the event FoxReload decided, with
    FoxReload's codes; no key accepted twice. In the ledger: the same outcome."""
    assert stack.receiver is not None and stack.resources is not None
    events = stack.receiver.events_by_order()
    for order_id, status in orders.items():
        assert events.get(order_id) == [EXPECTED_EVENT[status]], (order_id, events.get(order_id))
    duplicates = {k: n for k, n in stack.receiver.duplicates().items() if k.split(":")[0] in orders}
    assert duplicates == {}
    sent = dict.fromkeys(orders, 0.0)
    report = build_report(stack, sent, wall_seconds=0.0, timed_out=False)
    assert report.code_mismatches == [] and report.lost == []
    ledger = LedgerTable(stack.client("dynamodb"), stack.resources.ledger_table)
    records = ledger.batch_get(list(orders))
    outcomes = {order_id: records[order_id].outcome for order_id in orders}
    assert outcomes == {o: EXPECTED_OUTCOME[s] for o, s in orders.items()}


def test_a_storefront_outage_longer_than_the_supplier_deadline_delivers_each_order_once(
    stress_stack: LocalStack, stress_pollers: EsmRunner
) -> None:
    stack = stress_stack
    assert stack.receiver is not None
    rx = stack.receiver
    before = counters(stack)
    errors_before = stress_pollers.stats().batch_errors
    rx.start_outage(503)
    try:
        orders = _scripted_orders(stack, 30)
        sent = _send(stack, orders)
        # Down until well past every order's deadline (counted from its enqueue), while
        # FoxReload has long made every order terminal.
        outage_until = max(sent.values()) + GIVE_UP_AFTER_SECONDS + 8.0
        wait_until(lambda: time.time() >= outage_until, timeout=120)
        assert dead_letters(stack) == [], "dead-lettered during the outage"
        refused = rx.stats()["outageRefused"]
        rx.end_outage()
        recovered_at = time.time()

        wait_until(lambda: set(orders) <= set(rx.events_by_order()), timeout=150, interval=1.0)
        time.sleep(3.0)  # a duplicate, if any, would arrive about now
    finally:
        rx.end_outage()

    deliveries = rx.unique_deliveries()
    drain = max(d.received_at for d in deliveries.values() if d.order_id in orders) - recovered_at
    print(f"outage refusals {refused}, drained {drain:.1f}s after the recovery")
    _assert_each_delivered_once(stack, orders)
    assert dead_letters(stack) == []
    assert stress_pollers.stats().batch_errors == errors_before
    # The outage really outlasted the supplier deadline: every order was delivered after it.
    for key, delivery in deliveries.items():
        order_id = key.split(":")[0]
        if order_id in orders:
            assert delivery.received_at - sent[order_id] > GIVE_UP_AFTER_SECONDS, order_id
    # The storefront was asked, and the breaker stopped the relay from hammering it: orders
    # were parked instead of each being retried on its own.
    metrics = (counters(stack) - before).metrics
    assert refused >= BreakerConfig().failure_threshold
    assert metrics[Metric.DELIVERIES_PARKED] > 0, dict(metrics)
    assert metrics[Metric.ORDERS_DEAD_LETTERED] == 0


def test_a_redrive_of_200_dead_letters_while_the_sweeper_runs_dead_letters_none_again(
    stress_stack: LocalStack, stress_pollers: EsmRunner, stress_state_file: Path
) -> None:
    stack = stress_stack
    assert stack.receiver is not None and stack.sweeper is not None
    rx = stack.receiver
    errors_before = stress_pollers.stats().batch_errors
    # The dead letters of an earlier incident: the storefront refused every webhook for good (a
    # 400: a deploy that broke its handler), so each order was dead-lettered as
    # webhook_rejected. They are made with the sweeper stopped (the per-order path alone, as
    # with SWEEP_ENABLED=false) only because a per-order poll that meets the sweeper's live
    # lease waits out the whole lease (45 s): it changes nothing about the redrive under test.
    stack.stop_sweeper()
    rx.start_outage(400)
    try:
        orders = _scripted_orders(stack, 200)
        started = time.monotonic()
        _send(stack, orders)

        def all_dead() -> dict[str, object] | None:
            found = {d.order_id: d for d in dead_letters(stack) if d.order_id in orders}
            return found if len(found) == len(orders) else None

        letters = wait_until(all_dead, timeout=150, interval=2.0)
        dead_seconds = time.monotonic() - started
        assert {d.reason for d in letters.values()} == {"webhook_rejected"}
        assert not set(orders) & set(rx.events_by_order())

        # The cause is fixed; then everything is moved back while the sweeper runs (moto has
        # no StartMessageMoveTask: the CLI's local path receives, copies, deletes).
        rx.end_outage()
        sweeper = stack.start_sweeper()
        assert sweeper.wait_ready(timeout=120), "sweeper did not start"
        wait_until(lambda: sweep_coverage_fresh(stack), timeout=60)
        redrive_started = time.monotonic()
        moved = operator_cli(stress_state_file, "dlq", "redrive", "--all")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        # SQS delivers at least once: an order's message can be received twice and so be
        # dead-lettered twice; both copies go back and the ledger absorbs the second.
        count = re.search(r"redrove (\d+) message", moved.stdout)
        assert count is not None and int(count[1]) >= len(orders), moved.stdout
        redrive_seconds = time.monotonic() - redrive_started
        assert sweep_coverage_fresh(stack), "the sweeper is not sweeping"

        wait_until(lambda: set(orders) <= set(rx.events_by_order()), timeout=150, interval=1.0)
        drain_seconds = time.monotonic() - redrive_started
        time.sleep(3.0)  # a late duplicate or dead letter, if any, would show by now
        assert sweeper.alive()
    finally:
        rx.end_outage()
        stack.start_sweeper()

    print(
        f"dead-lettered in {dead_seconds:.1f}s, {count[1]} moved in {redrive_seconds:.1f}s, "
        f"delivered {drain_seconds:.1f}s after the redrive started"
    )
    assert [d.order_id for d in dead_letters(stack)] == [], "dead-lettered again"
    _assert_each_delivered_once(stack, orders)
    assert stress_pollers.stats().batch_errors == errors_before
    assert stack.queue_depths()["dlq"] == 0
