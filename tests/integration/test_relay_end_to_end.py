"""The real poller handler, run by the local event source mapping, against the simulator."""

from __future__ import annotations

import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.stack import RELAY_API_KEY, LocalStack
from tests.integration.wire_helpers import run_orders, sim_status

pytestmark = pytest.mark.wire

EXPECTED = {"completed": "delivered", "failed": "failed", "cancelled": "cancelled"}


def assert_every_order_accounted_for(stack: LocalStack, report, *, allow_dead_letters: bool):
    assert not report.timed_out, report.to_json()
    assert report.lost == [], f"lost orders: {report.lost}"
    assert report.duplicate_deliveries == 0
    assert report.code_mismatches == []
    for order_id, outcome in report.outcome_by_order.items():
        if outcome == "dead-lettered" and allow_dead_letters:
            continue
        # the relay reported exactly what FoxReload decided
        assert outcome == EXPECTED[sim_status(stack, order_id)], order_id


def test_fifty_orders_are_each_delivered_once_with_their_codes(
    stack: LocalStack, pollers: EsmRunner
) -> None:
    report = run_orders(stack, 50, seed=1)

    assert_every_order_accounted_for(stack, report, allow_dead_letters=False)
    assert report.outcomes["dead-lettered"] == 0
    assert report.outcomes["delivered"] >= 40  # the timing model fails/cancels a few percent
    assert report.rate_limited == 0
    assert pollers.stats().batch_errors == 0


def test_chaos_fault_profile_loses_and_duplicates_nothing(
    stack: LocalStack, pollers: EsmRunner, simulator_defaults: None
) -> None:
    assert stack.simulator is not None
    # 5xx, malformed JSON, hangs and slow answers on 60 % of the relay's requests. The chaos
    # profile's own 33 % is not enough to be sure of a fault, and neither is one burst of
    # orders: a sweep lists 40 orders on one page, and a fresh-clone CI run served all 40 with
    # two list requests and drew no fault. So the orders arrive over 10 s (more sweeps), and
    # another run follows until the profile has hit the relay at least once (at most three).
    stack.set_fault_profile(
        "chaos", error_rate=0.3, malformed_rate=0.1, timeout_rate=0.05, slow_rate=0.15
    )

    faults = 0
    for seed in (2, 12, 22):
        report = run_orders(stack, 40, seed=seed, pace=0.25)
        assert_every_order_accounted_for(stack, report, allow_dead_letters=False)
        assert report.outcomes["dead-lettered"] == 0
        faults += sum(report.faults.values())
        if faults:
            break
    assert faults > 0, f"the profile injected no fault in three runs: {report.to_json()}"


def test_rate_limited_run_sees_429s_and_loses_no_order(
    stack: LocalStack, pollers: EsmRunner, simulator_defaults: None
) -> None:
    assert stack.simulator is not None
    # The relay paces itself to the limit it is configured with (cdk.json rateLimitPerMinute,
    # 100 per simulated minute; the local stack scales its budget to the simulator's clock), so
    # it only meets 429s when FoxReload grants the key less than that: 2 requests per simulated
    # minute = 2 per 6 real seconds at x10 (a sweep every few seconds lists the whole run, so
    # a larger grant may go unnoticed). The orders arrive over 7.5 real seconds, so the relay
    # has to ask more than twice within 6 s: all at once, an earlier test's fresh sweep state
    # once served 20 orders with two list requests, and no 429 came. The sweeper and the
    # pollers must back off on the 429s (Retry-After) and still lose nothing.
    stack.simulator.set_rate_limit(2, key=RELAY_API_KEY)
    assert stack.rate_limit_per_minute > 2

    report = run_orders(stack, 30, seed=3, pace=0.25)

    assert report.rate_limited > 0, f"no 429 was answered: {report.to_json()}"
    assert_every_order_accounted_for(stack, report, allow_dead_letters=False)
    assert report.outcomes["dead-lettered"] == 0
