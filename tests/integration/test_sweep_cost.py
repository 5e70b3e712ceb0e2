"""The relay as deployed (sweeper on, per cdk.json) against per-order polling alone, measured on
the same stack: the sweep must spend fewer FoxReload requests per delivered order, stay under
the rate limit, and lose or duplicate nothing.

Workload: 100 orders placed by the storefront a fixed interval apart (a steady arrival rate, as
the bench models it, not one burst), fulfilled in 10-60 simulated seconds. At x10 the per-order
poll beat is 1 real second = 10 simulated seconds (SQS visibility is whole seconds), so with
the session's faster timing most orders would be complete before their first poll; here they
take a few beats, as FoxReload's orders take a few 9 s beats in production (docs/performance.md).

"Per-order only" is the relay with its sweeper stopped: once the coverage item is stale, the
pollers poll every order themselves with the whole request budget (`BudgetSplit.for_per_order`),
which is what they do with SWEEP_ENABLED=false. The sweeper is started again afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.scenario import Report
from local_stack.stack import LocalStack
from simulator import TimingModel
from tests.integration.wire_helpers import run_orders, sweep_coverage_fresh, wait_until

pytestmark = pytest.mark.wire

ORDERS = 100
PACE_SECONDS = 0.2  # 5 orders per real second = 0.5 per simulated second (1,800 an hour)
SLOW_FULFILMENT = TimingModel(
    processing_median=30.0,
    processing_sigma=0.4,
    processing_min=10.0,
    processing_max=60.0,
    tail_share=0.0,
    failed_share=0.03,
    cancelled_share=0.03,
    stuck_share=0.0,
)
# The pollers cache the coverage item for 2 s (relay.service.poll_gate): past staleness, wait
# that long too before measuring per-order polling alone.
COVERAGE_CACHE_SECONDS = 2.5


@pytest.fixture
def slow_fulfilment(stack: LocalStack) -> Iterator[None]:
    assert stack.simulator is not None
    sandbox = stack.simulator.sandbox
    previous = sandbox.timing
    sandbox.timing = SLOW_FULFILMENT
    yield
    sandbox.timing = previous


def assert_exactly_once(report: Report) -> None:
    assert not report.timed_out, report.to_json()
    assert report.lost == [], f"lost orders: {report.lost}"
    assert report.duplicate_deliveries == 0
    assert report.code_mismatches == []
    assert report.outcomes["dead-lettered"] == 0, report.dead_letters


def test_sweep_spends_fewer_requests_per_delivered_order_than_per_order_polls(
    stack: LocalStack, pollers: EsmRunner, slow_fulfilment: None
) -> None:
    assert stack.sweep_enabled and stack.sweeper is not None, "cdk.json enables the sweep"
    assert stack.sweeper.wait_ready(timeout=120)
    # With nothing in flight the sweeper idles (it lists nothing); the first orders wake it.
    swept = run_orders(stack, ORDERS, seed=21, pace=PACE_SECONDS)

    stack.stop_sweeper()
    try:
        wait_until(lambda: not sweep_coverage_fresh(stack), timeout=60)
        time.sleep(COVERAGE_CACHE_SECONDS)
        per_order = run_orders(stack, ORDERS, seed=22, pace=PACE_SECONDS)
    finally:
        stack.start_sweeper().wait_ready(timeout=120)

    for name, report in (("sweep", swept), ("per-order only", per_order)):
        data = report.to_json()
        print(
            f"{name}: {data['apiRequestsPerDelivered']} requests per delivered order "
            f"({data['sweepRequests']} list pages, {data['orderGets']} order GETs), "
            f"{data['rateLimited']} 429s, {data['sweepDeferrals']} deferrals, "
            f"lag {data['deliveryLagSeconds']}"
        )
    assert_exactly_once(swept)
    assert_exactly_once(per_order)
    # the sweep did the work: list pages read, per-order polls skipped
    assert swept.sweep_requests > 0 and swept.deferrals > 0, swept.to_json()
    assert per_order.sweep_requests == 0 and per_order.deferrals == 0, per_order.to_json()
    # within the rate limit, by pacing rather than by 429s
    assert swept.rate_limited_share < 0.01, swept.to_json()
    # and cheaper per delivered order than polling each order
    swept_cost, per_order_cost = swept.requests_per_delivered, per_order.requests_per_delivered
    assert swept_cost is not None and per_order_cost is not None
    assert swept_cost < per_order_cost, (swept.to_json(), per_order.to_json())
