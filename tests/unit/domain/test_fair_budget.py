"""The per-order budget's two lanes: within the key, a guaranteed share each, nothing wasted."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.domain.fair_budget import (
    IDLE_GRACE_SECONDS,
    MAX_OLD_SHARE,
    OLD_SHARE,
    SHARE_STEP,
    FairBudget,
    FairState,
    Lane,
    lane_for,
    lending_floor,
    next_sweep_share,
    old_share_with_loan,
)
from relay.domain.rate_budget import WINDOW_SECONDS, RateBudget, budget_within_limit

LIMITS = st.sampled_from([100.0, 1000.0, 30.0])
SHARES = st.floats(min_value=0.05, max_value=1.0)


def _per_order(limit: float, share: float) -> RateBudget:
    return budget_within_limit(limit, burst=min(10.0, limit / 10), share=share)


def _drive(
    budget: FairBudget,
    every: dict[Lane, float],
    seconds: float,
    backlog: dict[Lane, float] | None = None,
    start: float = 1000.0,
) -> dict[Lane, list[float]]:
    """Lanes in `every` ask for a token every so many seconds whatever happened; lanes in
    `backlog` have orders waiting, as pollers do: they ask again at once after a grant and, after
    a refusal, when the token is due plus a lag (jitter, whole-second visibility). Returns the
    grant times per lane."""
    backlog = backlog or {}
    state: FairState = budget.full(start)
    due = {lane: start + 0.37 * period for lane, period in every.items()}
    due.update({lane: start + 0.11 for lane in backlog})
    granted: dict[Lane, list[float]] = {lane: [] for lane in Lane}
    while True:
        lane = min(due, key=lambda key: due[key])
        now = due[lane]
        if now > start + seconds:
            return granted
        grant = budget.take(state, lane, now)
        state = grant.state
        if grant.granted:
            granted[lane].append(now)
        if lane in every:
            due[lane] = now + every[lane]
        else:
            due[lane] = now + (1e-3 if grant.granted else grant.wait + backlog[lane])


def _alone(own: RateBudget, lag: float, seconds: float, start: float = 1000.0) -> int:
    """Grants the same pollers would get from their lane's bucket with nobody else around."""
    state = own.full(start)
    now, grants = start + 0.11, 0
    while now <= start + seconds:
        grant = own.take(state, now)
        state = grant.state
        grants += grant.granted
        now += 1e-3 if grant.granted else grant.wait + lag
    return grants


@settings(max_examples=60, deadline=None)
@given(
    limit=LIMITS,
    share=SHARES,
    old_share=st.floats(min_value=0.1, max_value=0.9),
    new_period=st.floats(min_value=0.1, max_value=5.0),
    old_period=st.floats(min_value=0.1, max_value=5.0),
)
def test_the_two_lanes_together_never_exceed_the_per_order_budget(
    limit: float, share: float, old_share: float, new_period: float, old_period: float
) -> None:
    total = _per_order(limit, share)
    budget = FairBudget(total, old_share=old_share)
    granted = _drive(budget, {Lane.NEW: new_period, Lane.OLD: old_period}, 600.0)
    times = sorted(granted[Lane.NEW] + granted[Lane.OLD])
    most = total.burst + total.rate * WINDOW_SECONDS
    end = 0
    for i, start in enumerate(times):
        while end < len(times) and times[end] < start + WINDOW_SECONDS:
            end += 1
        assert end - i <= most + 1e-6


@settings(max_examples=30, deadline=None)
@given(
    limit=LIMITS,
    share=SHARES,
    old_share=st.floats(min_value=0.1, max_value=0.9),
    hungry=st.sampled_from(list(Lane)),
    hog_period=st.floats(min_value=0.05, max_value=0.5),
    lag_fraction=st.floats(min_value=0.0, max_value=0.9),
)
def test_a_lane_with_demand_gets_its_share_however_hard_the_other_pushes(
    limit: float,
    share: float,
    old_share: float,
    hungry: Lane,
    hog_period: float,
    lag_fraction: float,
) -> None:
    """A redrive of thousands (OLD asking as fast as it can) leaves new orders their lane, and
    the other way round."""
    total = _per_order(limit, share)
    budget = FairBudget(total, old_share=old_share)
    seconds = 300.0
    own = budget.lane_budget(hungry)
    # Pollers come back within the idle grace; a lag longer than the lane's own burst lasts
    # would waste that lane's tokens by itself, whatever the other lane does.
    lag = lag_fraction * min(IDLE_GRACE_SECONDS, own.burst / own.rate)
    granted = _drive(budget, {hungry.other: hog_period}, seconds, backlog={hungry: lag})
    assert len(granted[hungry]) >= _alone(own, lag, seconds) - 2


@settings(max_examples=30, deadline=None)
@given(limit=LIMITS, share=SHARES, lane=st.sampled_from(list(Lane)))
def test_a_lane_alone_gets_the_whole_per_order_budget(
    limit: float, share: float, lane: Lane
) -> None:
    """Work-conserving: an idle lane's tokens go to the busy one (a redrive alone drains at
    nearly the full per-order rate, not at its lane's share). A one-token lane lends a token
    only once it has sat unclaimed for the idle grace, which costs part of that lane's rate."""
    total = _per_order(limit, share)
    budget = FairBudget(total)
    seconds = 300.0
    granted = _drive(budget, {}, seconds, backlog={lane: 0.0})
    lender = budget.lane_budget(lane.other)
    own = budget.lane_budget(lane)
    period = 1.0 / lender.rate
    lent = lender.rate if lender.burst >= 2 else 1.0 / (period + min(period, IDLE_GRACE_SECONDS))
    assert len(granted[lane]) >= 0.95 * (own.rate + lent) * seconds - 2
    if total.burst >= 2:  # below that, each lane's one-token burst is paid from the rate
        assert len(granted[lane]) >= 0.6 * total.rate * seconds


def test_a_redrive_borrows_idle_tokens_but_never_new_orders_last_one() -> None:
    budget = FairBudget(RateBudget(rate=1.0, burst=10.0))  # two lanes of 5 tokens
    now = 1000.0
    state = budget.full(now)
    grants = []
    for _ in range(10):  # OLD asks ten times at once: its own 5, then NEW's spare 4
        grant = budget.take(state, Lane.OLD, now)
        grants.append(grant)
        state = grant.state
    assert [g.granted for g in grants] == [True] * 9 + [False]
    assert [g.borrowed for g in grants[:9]] == [False] * 5 + [True] * 4
    kept = budget.take(state, Lane.NEW, now)
    assert kept.granted  # the token NEW keeps for its own next order
    refused = budget.take(kept.state, Lane.NEW, now)
    assert not refused.granted
    assert refused.state.new.starved_at == now
    # NEW's next tokens are NEW's: OLD may not borrow while NEW's demand is remembered
    later = now + 2.5  # each lane has refilled 1.25 tokens
    old = budget.take(refused.state, Lane.OLD, later)
    assert old.granted and not old.borrowed
    assert not budget.take(old.state, Lane.OLD, later).granted  # NEW's 1.25 are not lent
    assert budget.take(old.state, Lane.NEW, later).granted


def test_lanes_by_age_against_the_supplier_deadline() -> None:
    assert lane_for(10.0, 900.0) is Lane.NEW
    assert lane_for(900.0, 900.0) is Lane.OLD
    assert lane_for(86_400.0, 900.0) is Lane.OLD


def test_a_429_empties_both_lanes_until_retry_after() -> None:
    budget = FairBudget(RateBudget(rate=1.0, burst=10.0))
    state = budget.back_off(budget.full(0.0), 30.0, 0.0)
    for lane in Lane:
        assert not budget.take(state, lane, 20.0).granted
        assert budget.take(state, lane, 31.0).granted


@settings(max_examples=100, deadline=None)
@given(
    ceiling=st.floats(min_value=0.1, max_value=0.95),
    start=st.floats(min_value=0.0, max_value=1.0),
    signals=st.lists(st.booleans(), max_size=60),
)
def test_the_sweepers_share_stays_between_floor_and_ceiling(
    ceiling: float, start: float, signals: list[bool]
) -> None:
    floor = ceiling / 2
    share = start
    for starved in signals:
        before = min(max(share, floor), ceiling)
        share = next_sweep_share(share, starved, floor=floor, ceiling=ceiling)
        assert floor - 1e-12 <= share <= ceiling + 1e-12
        assert (share <= before) if starved else (share >= before)


@pytest.mark.parametrize("ceiling", [0.5, 0.85, 0.95])
def test_the_share_is_lent_within_a_minute_and_taken_back_after(ceiling: float) -> None:
    """Sweeps run every 2-12 s: a dozen sweeps is one to two minutes."""
    floor = ceiling / 2
    share = ceiling
    for _ in range(12):
        share = next_sweep_share(share, True, floor=floor, ceiling=ceiling)
    assert share <= floor + 0.05 * ceiling
    for _ in range(40):
        share = next_sweep_share(share, False, floor=floor, ceiling=ceiling)
    assert math.isclose(share, ceiling, rel_tol=0.03)


@given(
    configured=st.floats(min_value=0.05, max_value=0.95),
    lent=st.floats(min_value=0.0, max_value=1.0),
    limit=st.floats(min_value=10.0, max_value=1000.0),
)
def test_the_sweepers_loan_goes_to_the_old_lane_and_the_new_lane_keeps_its_part(
    configured, lent, limit
):
    """Lending is the answer to OLD-lane refusals: the loan goes to that lane, the NEW lane's
    rate stays what it was without a loan, and no lane ever gets less than its guarantee."""
    current = configured * (1.0 - lent * 0.95)  # the share after lending part of it
    share = old_share_with_loan(configured, current)
    per_order, base = limit * (1.0 - current), limit * (1.0 - configured)
    assert OLD_SHARE <= share <= MAX_OLD_SHARE
    old_rate, new_rate = per_order * share, per_order * (1.0 - share)
    assert new_rate >= base * (1.0 - OLD_SHARE) - 1e-9
    loan = limit * (configured - current)
    if share < MAX_OLD_SHARE:
        assert old_rate == pytest.approx(base * OLD_SHARE + loan)


def test_without_a_loan_the_lanes_split_as_configured():
    assert old_share_with_loan(0.85, 0.85) == OLD_SHARE
    assert old_share_with_loan(0.85, 0.9) == OLD_SHARE  # above the configured share: no loan
    assert old_share_with_loan(0.85, 0.0) == OLD_SHARE  # nothing published to read a loan from
    assert old_share_with_loan(0.85, 0.425) > OLD_SHARE


@given(
    ceiling=st.floats(min_value=0.05, max_value=0.95),
    used=st.floats(allow_nan=True, allow_infinity=True),
    more=st.floats(min_value=0.0, max_value=1.0),
)
def test_the_sweeper_lends_only_what_its_plan_does_not_use(
    ceiling: float, used: float, more: float
) -> None:
    floor = lending_floor(ceiling, used)
    assert ceiling / 2 <= floor <= ceiling * SHARE_STEP  # one step can always be lent
    if math.isfinite(used):
        assert floor >= min(ceiling * SHARE_STEP, used)  # never below what the plan wants
        assert lending_floor(ceiling, used + more) >= floor  # the more it wants, the less it lends
    else:
        assert floor == ceiling / 2  # no plan yet: the loan as before


def test_a_budget_bound_sweep_lends_one_step_and_a_light_one_lends_half() -> None:
    ceiling = 0.85
    share = ceiling
    for _ in range(30):  # pollers starved all along; the plan wants its whole share
        share = next_sweep_share(
            share, True, floor=lending_floor(ceiling, ceiling), ceiling=ceiling
        )
    assert math.isclose(share, ceiling * SHARE_STEP)
    for _ in range(30):  # the same, with a plan that wants a tenth of the key
        share = next_sweep_share(share, True, floor=lending_floor(ceiling, 0.1), ceiling=ceiling)
    assert math.isclose(share, ceiling / 2)


def test_a_lending_floor_needs_a_share_of_the_key() -> None:
    with pytest.raises(ValueError):
        lending_floor(1.0, 0.5)
