"""The completion sweep's decisions: how deep, how often, when per-order polls stand down."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.coverage import (
    Coverage,
    SweepConfig,
    coverage_is_fresh,
    per_order_delay_when_swept,
)
from relay.domain.sweep import (
    ListedOrder,
    SweepPlan,
    SweepState,
    coverage_after_sweep,
    next_page_needed,
    observe_first_page,
    plan_sweep,
    terminal_orders,
)

CFG = SweepConfig()
RATE = 85 * 0.9 / 60  # the sweeper's share of 90 tokens a minute


def page(newest: float, spacing: float, n: int = 100, status: str = "completed"):
    return [ListedOrder(f"o{i}", status, newest - i * spacing) for i in range(n)]


def test_first_sweep_reads_what_the_budget_affords_up_to_the_horizon():
    plan = plan_sweep(SweepState(), CFG, RATE, now=0.0)
    assert plan.interval == CFG.min_interval
    assert plan.max_pages == math.floor(RATE * CFG.max_interval)
    assert plan.horizon == CFG.max_horizon


def test_low_load_reads_one_page_and_paces_by_the_cost_target():
    # 1,000 orders/hour: a page of 100 spans 360 s, more than the whole horizon
    plan = plan_sweep(SweepState(seconds_per_page=360.0), CFG, RATE, now=0.0)
    assert plan.max_pages == 1
    assert plan.horizon == CFG.max_horizon
    listed_per_second = 100 / 360.0
    assert plan.interval == pytest.approx(1 / (listed_per_second * CFG.target_requests_per_order))


def test_high_load_stretches_the_interval_to_keep_the_horizon():
    # 40,000 orders/hour: a page spans 9 s; the full horizon needs 34 pages a sweep, more
    # than the budget refills in max_interval: the sweep waits longer rather than reading less
    plan = plan_sweep(SweepState(seconds_per_page=9.0), CFG, RATE, now=0.0)
    assert CFG.max_interval < plan.interval <= 2 * CFG.lag_target
    assert plan.max_pages == math.ceil(CFG.max_horizon / 9.0)
    assert plan.horizon == CFG.max_horizon


def test_past_twice_the_lag_target_the_horizon_gives_way_to_the_budget():
    # 180,000 orders/hour: a page spans 2 s; 150 pages would take two minutes of budget
    plan = plan_sweep(SweepState(seconds_per_page=2.0), CFG, RATE, now=0.0)
    assert plan.interval == 2 * CFG.lag_target
    assert plan.max_pages == math.floor(RATE * plan.interval)
    assert plan.horizon == pytest.approx(plan.max_pages * 2.0)
    assert plan.horizon < CFG.max_horizon


@given(st.floats(0.5, 1e5), st.floats(0.05, 20))
def test_plans_stay_within_their_bounds_and_the_budget(seconds_per_page, rate):
    plan = plan_sweep(SweepState(seconds_per_page=seconds_per_page), CFG, rate, now=0.0)
    assert CFG.min_interval <= plan.interval <= max(CFG.max_interval, 2 * CFG.lag_target)
    # only the budget stretches a sweep past max_interval, and then the whole horizon is read
    # unless the interval is at its ceiling
    if plan.interval > CFG.max_interval and plan.interval < 2 * CFG.lag_target:
        assert plan.horizon == CFG.max_horizon
    assert 0 < plan.horizon <= CFG.max_horizon
    assert plan.max_pages >= 1
    # beyond its first page, a sweep never plans more pages than its tokens refill
    assert plan.max_pages <= max(1, math.floor(rate * plan.interval + 1e-9))


def test_read_on_while_full_pages_stay_inside_the_horizon():
    plan = SweepPlan(12.0, 5, 300.0, None, 100)
    assert next_page_needed(page(1000.0, 1.0), plan, 1, now=1000.0)


def test_stop_at_a_short_page_the_horizon_or_the_page_count():
    plan = SweepPlan(12.0, 5, 300.0, None, 100)
    assert not next_page_needed(page(1000.0, 1.0, n=99), plan, 1, now=1000.0)
    assert not next_page_needed(page(1000.0, 4.0), plan, 1, now=1000.0)  # reaches 604 s old
    assert not next_page_needed(page(1000.0, 1.0), plan, 5, now=1000.0)


def test_terminal_orders_are_the_three_final_statuses():
    mixed = [
        ListedOrder(str(i), s, 0.0)
        for i, s in enumerate(["completed", "processing", "failed", "paid", "cancelled", "active"])
    ]
    assert [o.status for o in terminal_orders(mixed)] == ["completed", "failed", "cancelled"]


def test_page_span_is_learned_and_smoothed():
    state = observe_first_page(SweepState(), CFG, page(1000.0, 0.18), now=1000.0)
    assert state.seconds_per_page == pytest.approx(99 * 0.18)
    again = observe_first_page(state, CFG, page(2000.0, 0.36), now=2000.0)
    expected = (1 - CFG.smoothing) * 99 * 0.18 + CFG.smoothing * 99 * 0.36
    assert again.seconds_per_page == pytest.approx(expected)
    assert again.sweeps == 2


@given(
    quiet=st.floats(min_value=0.0, max_value=280.0),
    spacing=st.floats(min_value=0.05, max_value=3.0),
)
def test_quiet_time_since_the_newest_order_is_not_page_span(quiet, spacing):
    """Orders stopped coming `quiet` seconds ago: a full page still spans what it holds, so the
    sweep plans the same pages as if the newest order were brand new and still reaches the far
    end of its horizon, where orders are still in flight."""
    now = 10_000.0
    quiet_state = observe_first_page(SweepState(), CFG, page(now - quiet, spacing), now=now)
    busy_state = observe_first_page(SweepState(), CFG, page(now, spacing), now=now)
    assert quiet_state.seconds_per_page == pytest.approx(99 * spacing)
    quiet_plan, busy_plan = plan_sweep(quiet_state, CFG, RATE, now), plan_sweep(busy_state, CFG, RATE, now)
    assert quiet_plan.max_pages == busy_plan.max_pages
    assert quiet_plan.horizon == pytest.approx(busy_plan.horizon)
    assert quiet_plan.interval == pytest.approx(busy_plan.interval)


def test_a_short_first_page_means_a_page_spans_more_than_it_shows():
    state = observe_first_page(SweepState(), CFG, page(1000.0, 1.0, n=50), now=1000.0)
    assert state.seconds_per_page == pytest.approx(49 * 100 / 50)


def test_coverage_is_what_was_really_read():
    plan = SweepPlan(12.0, 3, 300.0, None, 100)
    assert coverage_after_sweep(plan, 1000.0, page(1000.0, 1.0), finished=False).horizon == 0.0
    assert coverage_after_sweep(plan, 1000.0, page(990.0, 1.0, n=10), True).horizon == 300.0
    ran_out = coverage_after_sweep(plan, 1000.0, page(900.0, 1.0), finished=True)
    assert ran_out.horizon == pytest.approx(1000.0 - (900.0 - 99))


def test_covered_orders_wait_without_polling_until_they_leave_the_horizon():
    coverage = Coverage(swept_at=1000.0, horizon=300.0, interval=12.0)
    wait = per_order_delay_when_swept(10.0, coverage, CFG, now=1005.0)
    assert wait == CFG.max_defer
    near = per_order_delay_when_swept(250.0, coverage, CFG, now=1005.0)
    assert near == pytest.approx(300.0 - CFG.cover_margin - 250.0)
    assert per_order_delay_when_swept(290.0, coverage, CFG, now=1005.0) is None


def test_no_or_stale_coverage_means_poll_as_usual():
    coverage = Coverage(swept_at=1000.0, horizon=300.0, interval=12.0)
    stale_at = 1000.0 + CFG.stale_after_intervals * 12.0 + CFG.stale_grace + 1
    assert per_order_delay_when_swept(10.0, None, CFG, now=1005.0) is None
    assert not coverage_is_fresh(coverage, CFG, stale_at)
    assert per_order_delay_when_swept(10.0, coverage, CFG, now=stale_at) is None


@given(st.floats(0, 2000), st.floats(0, 900), st.floats(0, 100))
def test_a_deferral_is_at_least_a_second_and_at_most_max_defer(age, horizon, since):
    coverage = Coverage(swept_at=0.0, horizon=horizon, interval=12.0)
    wait = per_order_delay_when_swept(age, coverage, CFG, now=since)
    assert wait is None or 1.0 <= wait <= CFG.max_defer


def test_config_is_validated():
    with pytest.raises(ValueError):
        SweepConfig(page_limit=101)
    with pytest.raises(ValueError):
        SweepConfig(min_interval=20, max_interval=10)


def test_a_plan_wants_the_share_that_reads_its_horizon_every_half_lag_target() -> None:
    plan = SweepPlan(10.0, 2, 300.0, None, 100, wanted_rate=0.4)
    assert plan.wanted_share(0.85, configured_rate=1.6) == 0.85 * 0.4 / 1.6
    assert plan.wanted_share(0.85, configured_rate=0.2) == 0.85  # never more than configured
    assert SweepPlan(10.0, 2, 300.0, None, 100).wanted_share(0.85, 1.6) == 0.85  # unknown: all


def test_the_configured_plan_wants_its_horizon_pages_every_half_lag_target() -> None:
    config = SweepConfig()
    quiet = plan_sweep(SweepState(seconds_per_page=3600.0), config, sweep_rate=1.4, now=0.0)
    busy = plan_sweep(SweepState(seconds_per_page=10.0), config, sweep_rate=1.4, now=0.0)
    assert quiet.wanted_rate == 1 / (config.lag_target / 2)  # one page holds the horizon
    assert busy.wanted_rate == 30 / (config.lag_target / 2)  # 300 s of 10 s pages
    assert busy.wanted_share(0.85, configured_rate=1.4) == 0.85
