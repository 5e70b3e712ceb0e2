"""The rate budget: a token bucket that keeps the relay inside FoxReload's 100 requests/minute."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.rate_budget import (
    BucketState,
    BudgetSplit,
    RateBudget,
    budget_within_limit,
    split_budget,
)

gaps = st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=400)


def most_in_any_window(times: list[float], window: float = 60.0) -> int:
    best, inside = 0, deque[float]()
    for t in times:
        inside.append(t)
        while inside[0] <= t - window:
            inside.popleft()
        best = max(best, len(inside))
    return best


def greedy(budget: RateBudget, arrivals: list[float], reserve: float = 0.0) -> list[float]:
    state, granted, now = budget.full(0.0), [], 0.0
    for gap in arrivals:
        now += gap
        grant = budget.take(state, now, reserve=reserve)
        state = grant.state
        if grant.granted:
            granted.append(now)
    return granted


@given(gaps)
def test_a_greedy_caller_never_exceeds_100_in_any_minute(arrivals):
    granted = greedy(budget_within_limit(100, burst=10), arrivals)
    assert most_in_any_window(granted) <= 100


@given(gaps, gaps)
def test_split_buckets_together_never_exceed_the_limit(sweeper_gaps, order_gaps):
    sweeper, per_order = split_budget(100, burst=10, sweep_share=0.85)
    both = sorted(greedy(sweeper, sweeper_gaps) + greedy(per_order, order_gaps))
    assert most_in_any_window(both) <= 100


def test_a_saturated_caller_gets_the_sustained_rate():
    budget = budget_within_limit(100, burst=10)
    granted = greedy(budget, [0.05] * 12_000)  # 600 s of asking 20 times a second
    assert len(granted) == pytest.approx(10 + 600 * budget.rate, abs=2)


def test_refused_take_says_how_long_to_wait_and_that_wait_is_enough():
    budget = RateBudget(rate=1.5, burst=2)
    state = BucketState(0.0, 100.0)
    refused = budget.take(state, 100.0)
    assert not refused.granted
    assert refused.wait == pytest.approx(1 / 1.5)
    assert budget.take(refused.state, 100.0 + refused.wait).granted


def test_reserve_keeps_tokens_for_the_higher_priority_caller():
    budget = RateBudget(rate=1.0, burst=10)
    state = BucketState(3.0, 0.0)
    assert not budget.take(state, 0.0, reserve=3.0).granted
    assert budget.take(state, 0.0, reserve=0.0).granted


def test_a_clock_that_goes_backwards_adds_no_tokens():
    budget = RateBudget(rate=1.0, burst=10)
    state = BucketState(0.0, 100.0)
    assert budget.refill(state, 50.0).tokens == 0.0
    assert budget.refill(state, 50.0).updated_at == 100.0


@given(st.floats(0.01, 10), st.floats(1, 50), st.floats(0, 1e6, allow_nan=False))
def test_tokens_stay_within_zero_and_burst(rate, burst, later):
    budget = RateBudget(rate, burst)
    state = budget.refill(BucketState(0.0, 0.0), later)
    assert 0.0 <= state.tokens <= burst


def test_invalid_buckets_are_refused():
    with pytest.raises(ValueError):
        RateBudget(0.0, 10)
    with pytest.raises(ValueError):
        RateBudget(1.0, 0.5)
    with pytest.raises(ValueError):
        budget_within_limit(100, burst=100)


def test_per_order_pollers_get_the_whole_key_when_no_sweep_runs():
    split = BudgetSplit.of(100, burst=10, sweep_share=0.85)
    assert split.for_per_order(sweep_running=True) == split.per_order
    assert split.for_per_order(sweep_running=False) == split.whole
    assert split.per_order.rate < split.sweeper.rate
    assert split.whole.requests_per_window == pytest.approx(100)


