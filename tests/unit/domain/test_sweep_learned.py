"""The sweep plan once completion ages are learned: horizon and cadence from the estimate."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.domain.completion_age import CompletionAges
from relay.domain.coverage import SweepConfig
from relay.domain.sweep import (
    ListedOrder,
    SweepPlan,
    SweepState,
    after_sweep,
    chunk_pages,
    learned_horizons,
    observe_page,
    plan_sweep,
)

CFG = SweepConfig(min_estimate_weight=200.0)  # learning on
RATE = 85 * 0.9 / 60


def estimate_of(completion_age, sweeps=300, oldest=900.0, seed=1):
    """What a sweeper learns listing orders whose completion ages `completion_age(rng)` draws."""
    rng = random.Random(seed)
    estimate = CompletionAges()
    for k in range(sweeps):
        obs = []
        for _ in range(100):
            age = rng.uniform(0, oldest)
            obs.append((age, completion_age(rng) <= age))
        estimate = estimate.observe(obs, 3.0 * k)
    return estimate


FAST = estimate_of(lambda rng: rng.uniform(1, 10))
DEFAULTISH = estimate_of(lambda rng: rng.expovariate(1 / 12) if rng.random() > 0.03 else 200)
SLOW = estimate_of(lambda rng: rng.uniform(100, 400))


def test_by_default_the_estimate_replaces_the_configured_plan_and_inf_turns_that_off():
    state = SweepState(seconds_per_page=18.0)
    configured = plan_sweep(state, SweepConfig(), RATE, 0.0)
    assert plan_sweep(state, SweepConfig(), RATE, 0.0, FAST) != configured
    off = SweepConfig(min_estimate_weight=math.inf)
    assert plan_sweep(state, off, RATE, 0.0, FAST) == plan_sweep(state, off, RATE, 0.0)


def test_without_enough_evidence_the_configured_plan_stands():
    state = SweepState(seconds_per_page=18.0)
    few = CompletionAges().observe([(10.0, True)] * 50, 0.0)
    assert plan_sweep(state, CFG, RATE, 0.0, few) == plan_sweep(state, CFG, RATE, 0.0)
    assert learned_horizons(None, CFG) == (CFG.max_horizon, CFG.max_horizon)


def test_the_horizon_follows_the_population():
    fast, slow = learned_horizons(FAST, CFG)[1], learned_horizons(SLOW, CFG)[1]
    assert fast <= 60.0  # everything ends within 10 s: no need to read 300 s deep
    assert slow >= 400.0  # the tail lies past the configured 300 s
    assert fast >= CFG.min_horizon and slow <= CFG.horizon_ceiling
    needed, wanted = learned_horizons(DEFAULTISH, CFG)
    assert 200.0 <= needed <= wanted <= CFG.horizon_ceiling


def test_a_fast_population_at_high_load_is_swept_faster_than_configured():
    state = SweepState(seconds_per_page=18.0)
    learned = plan_sweep(state, CFG, RATE, 0.0, FAST)
    configured = plan_sweep(state, CFG, RATE, 0.0)
    assert learned.interval < configured.interval


@given(
    st.floats(5.0, 2000.0),
    st.floats(0.05, 5.0),
    st.sampled_from([FAST, DEFAULTISH, SLOW]),
    st.integers(0, 50),
)
@settings(max_examples=150, deadline=None)
def test_learned_plans_spend_within_the_budget(spp, rate, estimate, sweeps):
    state = SweepState(seconds_per_page=spp, sweeps=sweeps)
    plan = plan_sweep(state, CFG, rate, 0.0, estimate)
    chunk = max(0, plan.chunk_last - plan.chunk_first + 1)
    cost = (plan.max_pages + chunk) / plan.interval
    assert cost <= max(rate, 1 / CFG.max_interval) + 1e-9
    assert plan.max_pages >= 1
    assert 0 < plan.horizon <= CFG.horizon_ceiling
    assert plan.reach_allowance < plan.horizon or chunk == 0


def page(newest: float, spacing: float, n: int = 100):
    return [ListedOrder(f"o{i}", "processing", newest - i * spacing) for i in range(n)]


def test_the_chunk_moves_on_after_a_finished_sweep_and_stays_after_one_cut_short():
    # a short interval and page gap: the older pages take more than one chunk to read
    cfg = replace(CFG, max_interval=12.0, max_page_gap=20.0)
    state = SweepState(seconds_per_page=18.0)
    estimate = estimate_of(lambda rng: rng.expovariate(1 / 8) if rng.random() > 0.05 else 250)
    plan = plan_sweep(state, cfg, RATE, 1000.0, estimate)
    assert plan.chunk_first <= plan.chunk_last  # young pages and a chunk of older ones
    cut, coverage = after_sweep(state, plan, 1000.0, page(1000.0, 0.18), finished=False)
    assert coverage.horizon == 0.0
    assert plan_sweep(cut, cfg, RATE, 1000.0, estimate).chunk_first == plan.chunk_first
    done, coverage = after_sweep(state, plan, 1000.0, page(1000.0, 0.18), finished=True)
    assert coverage.horizon == plan.horizon - plan.reach_allowance
    following = plan_sweep(done, cfg, RATE, 1000.0, estimate)
    assert following.cadence == plan.cadence  # kept mid-cycle
    assert following.chunk_first != plan.chunk_first


def test_chunk_pages_stop_where_the_list_or_the_horizon_ends():
    plan = SweepPlan(4.0, 1, 300.0, None, 100, chunk_first=3, chunk_last=5)
    assert list(chunk_pages(plan, page(1000.0, 0.18), 1000.0)) == [3, 4, 5]
    assert list(chunk_pages(plan, page(1000.0, 0.18, n=40), 1000.0)) == []  # the list ended
    assert list(chunk_pages(plan, page(1000.0, 4.0), 1000.0)) == []  # page 1 spans 396 s


def test_every_listed_order_is_a_sighting_at_its_age():
    listed = [ListedOrder("a", "completed", 990.0), ListedOrder("b", "processing", 900.0)]
    estimate = observe_page(CompletionAges(), CFG, listed, 1000.0)
    assert estimate.weight() == 2
    assert estimate.updated_at == 1000.0


def test_a_budget_bound_learned_plan_reads_less_often_before_its_horizon_gives_way():
    """A slow population at a high load: reading the needed depth every `max_page_gap` seconds
    costs more than the key's share, so every page is read less often (up to twice the lag
    target) and the horizon keeps the needed depth; the orders ending there are not left to
    the pollers' small share."""
    state = SweepState(seconds_per_page=9.0)  # ~40,000 orders an hour
    needed, _ = learned_horizons(SLOW, CFG)
    assert needed / 9.0 > RATE * CFG.max_page_gap  # the usual rhythm cannot afford it
    plan = plan_sweep(state, CFG, RATE, 0.0, SLOW)
    assert plan.horizon >= needed - 9.0
    assert plan.interval <= 2 * CFG.lag_target
    assert plan.cadence is not None and plan.cadence.longest_gap <= 2 * CFG.lag_target + 1e-9


@given(st.floats(20.0, 20_000.0), st.sampled_from([FAST, DEFAULTISH, SLOW]))
@settings(max_examples=100, deadline=None)
def test_a_learned_plan_sweeps_within_max_interval_unless_the_budget_binds(spp, estimate):
    """At a low load the learned plan spends at most `target_requests_per_order`, but still
    sweeps at least every `max_interval` (the configured plan's low-load ceiling); only a
    budget-bound plan reads less often, and never beyond twice the lag target."""
    plentiful = 1000.0  # requests a second: the cost target, never the budget, binds
    plan = plan_sweep(SweepState(seconds_per_page=spp), CFG, plentiful, 0.0, estimate)
    assert plan.interval <= CFG.max_interval + 1e-9
    tight = plan_sweep(SweepState(seconds_per_page=spp), CFG, 0.2, 0.0, estimate)
    assert tight.interval <= max(CFG.max_interval, 2 * CFG.lag_target) + 1e-9 or tight.max_pages == 1


def test_a_cost_bound_learned_plan_reads_its_core_depth_whole_on_every_sweep():
    """At a low load (the cost target binds, not the budget) the sweep reads the needed depth
    all of it on every sweep (no older tier), not the deeper look for a tail."""
    state = SweepState(seconds_per_page=360.0)  # ~1,000 orders an hour
    usual = plan_sweep(state, CFG, RATE, 0.0, DEFAULTISH)
    assert usual.max_pages == 1 and usual.chunk_first > usual.chunk_last
    assert usual.interval == pytest.approx(360.0 / 100)  # one request per listed order
    slow = plan_sweep(state, CFG, RATE, 0.0, SLOW)  # orders end up to 400 s old
    assert slow.max_pages == 2 and slow.chunk_first > slow.chunk_last
    assert slow.horizon >= 400.0
    assert slow.interval == pytest.approx(2 * 360.0 / 100)


def test_a_cost_bound_plan_looks_deeper_now_and_then_while_orders_still_end_at_its_edge():
    """Orders still ending at the oldest ages seen: the needed depth goes past them. At a low
    load the sweep reads its core depth on every sweep and the deeper one about every
    `max_page_gap`, so it finds where the tail ends without doubling every interval."""
    cut_off = estimate_of(lambda rng: rng.uniform(50, 300), oldest=300.0)
    needed, _ = learned_horizons(cut_off, CFG)
    assert needed > 360.0  # still ending at the edge: look deeper than one page
    plans = [
        plan_sweep(SweepState(seconds_per_page=360.0, sweeps=k), CFG, RATE, 0.0, cut_off)
        for k in range(16)
    ]
    deep = [plan for plan in plans if plan.max_pages > 1]
    assert 1 <= len(deep) <= 3  # about every 30 s at one sweep every 3.6 s
    assert all(plan.interval == pytest.approx(360.0 / 100) for plan in plans)
    assert all(plan.chunk_first > plan.chunk_last for plan in plans)
