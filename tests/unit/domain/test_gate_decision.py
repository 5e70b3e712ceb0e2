"""The per-order gate's decision: covered orders wait, others ask their lane for a token, and a
refused token is a wait that never outlasts the deadline's last look nor ends an order."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.coverage import Coverage, SweepConfig, coverage_is_fresh
from relay.domain.decision import Reschedule, Timing
from relay.domain.fair_budget import Lane, lane_for
from relay.domain.gate_decision import (
    AskToken,
    Gate,
    GateConfig,
    GateReason,
    after_refusal,
    at_gate,
    fresh_coverage,
    per_order_budget,
    wait_at_gate,
)
from relay.domain.poll_allowance import Allowance

NOW = 1_000_000.0
SWEEP = SweepConfig()
DEADLINES = st.sampled_from([900.0, 60.0, 3600.0])
SECONDS = st.floats(min_value=0.0, max_value=20_000.0)
UNIT = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def config(give_up_after: float = 900.0, sweep_enabled: bool = True, share: float = 0.85):
    return GateConfig(SWEEP, give_up_after, sweep_enabled, 100.0, 10.0, share)


@st.composite
def coverages(draw: st.DrawFn) -> Coverage | None:
    """None, fresh, stale, in the future, cut short (zero horizon), within the cover margin,
    with and without a published share."""
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    interval = draw(st.floats(min_value=2.0, max_value=12.0))
    since = draw(
        st.one_of(
            st.floats(min_value=-10.0, max_value=100.0),
            st.floats(min_value=0.0, max_value=5.0),
            st.just(3 * interval + SWEEP.stale_grace + 1.0),
        )
    )
    horizon = draw(
        st.one_of(
            st.just(0.0),
            st.floats(min_value=0.0, max_value=SWEEP.cover_margin),
            st.floats(min_value=0.0, max_value=SWEEP.max_horizon),
        )
    )
    share = draw(st.one_of(st.none(), st.floats(min_value=0.425, max_value=0.85)))
    until = draw(st.one_of(st.just(0.0), st.floats(min_value=NOW - 300.0, max_value=NOW + 300.0)))
    return Coverage(NOW - since, horizon, interval, share, Allowance(until))


@given(SECONDS, SECONDS, coverages(), DEADLINES, st.booleans())
def test_a_covered_order_waits_never_past_the_deadlines_last_look(
    age, elapsed, coverage, deadline, enabled
):
    cfg = config(deadline, enabled)
    step = at_gate(age, elapsed, NOW, coverage, cfg)
    if isinstance(step, Gate) and step.poll:  # unmetered: the sweeper's allowance
        assert enabled and coverage is not None and NOW < coverage.allowance.until
        assert fresh_coverage(coverage, cfg, NOW) is None
        assert step.lane is (Lane.OLD if age >= deadline else Lane.NEW)
    elif isinstance(step, Gate):
        assert not step.poll and step.reason is GateReason.SWEPT and step.lane is None
        assert enabled and coverage is not None and coverage_is_fresh(coverage, SWEEP, NOW)
        assert age < coverage.horizon - SWEEP.cover_margin
        assert elapsed < deadline  # the last look is a poll
        assert 1.0 <= step.wait <= max(1.0, min(SWEEP.max_defer, deadline - elapsed))
    else:
        assert isinstance(step, AskToken)
        assert step.lane is (Lane.OLD if age >= deadline else Lane.NEW)


@given(SECONDS, SECONDS, coverages(), DEADLINES, UNIT, UNIT)
def test_a_swept_reschedule_comes_back_by_the_deadline(
    age, elapsed, coverage, deadline, spread, pace
):
    step = at_gate(age, elapsed, NOW, coverage, config(deadline))
    if not isinstance(step, Gate) or step.poll:
        return
    action = wait_at_gate(step, Timing(0, elapsed, 0.1), deadline, spread, pace)
    assert action.reason == "swept"
    # Whole seconds (rounded to the nearest), at least one: by the deadline, give or take that.
    assert 1 <= action.delay <= max(1, math.floor(deadline - elapsed + 0.5))


@given(SECONDS, coverages(), DEADLINES, st.booleans())
def test_without_a_running_sweep_the_pollers_get_the_whole_key(age, coverage, deadline, enabled):
    cfg = config(deadline, enabled)
    step = at_gate(age, deadline, NOW, coverage, cfg)  # at the deadline: never swept
    running = (
        enabled
        and coverage is not None
        and coverage.horizon > SWEEP.cover_margin
        and coverage_is_fresh(coverage, SWEEP, NOW)
    )
    granted = enabled and coverage is not None and NOW < coverage.allowance.until
    if granted and not running:
        # The sweeper's allowance: a poll without a token, from the order's lane.
        assert step == Gate(True, lane=lane_for(age, deadline))
        return
    assert isinstance(step, AskToken)
    if not running:
        assert step.budget == cfg.split().whole
    else:
        assert coverage is not None
        assert step.budget == cfg.split(coverage.sweep_share).per_order
        assert step.budget.rate < cfg.split().whole.rate


def test_a_sweep_cut_short_or_within_the_margin_covers_nothing_and_leaves_the_whole_key():
    cfg = config()
    for horizon in (0.0, SWEEP.cover_margin):
        cut = Coverage(NOW, horizon, 5.0, sweep_share=0.5)
        assert fresh_coverage(cut, cfg, NOW) is None
        step = at_gate(0.0, 0.0, NOW, cut, cfg)
        assert step == AskToken(cfg.split().whole, Lane.NEW)
    covering = Coverage(NOW, SWEEP.cover_margin + 10.0, 5.0)
    assert at_gate(0.0, 0.0, NOW, covering, cfg) == Gate(False, 10.0, GateReason.SWEPT)
    assert per_order_budget(covering, cfg) == cfg.split().per_order


def test_the_published_share_is_what_the_pollers_get():
    cfg = config()
    lent = per_order_budget(Coverage(NOW, 200.0, 5.0, sweep_share=0.5), cfg)
    assert lent == cfg.split(0.5).per_order
    assert lent.rate > per_order_budget(Coverage(NOW, 200.0, 5.0), cfg).rate


@given(st.floats(min_value=0.0, max_value=5000.0), SECONDS, DEADLINES, st.sampled_from(Lane))
def test_a_refusal_before_the_deadline_waits_at_most_until_its_last_look(
    token_wait, elapsed, deadline, lane
):
    gate = after_refusal(token_wait, elapsed, lane, deadline)
    assert not gate.poll and gate.reason is GateReason.BUDGET and gate.lane is lane
    if elapsed < deadline:
        assert gate.wait <= max(1.0, deadline - elapsed)
        assert gate.wait <= token_wait
    else:
        assert gate.wait == token_wait  # however long the bucket says


@given(
    st.floats(min_value=0.0, max_value=5000.0),
    st.floats(min_value=0.0, max_value=200_000.0),
    DEADLINES,
    UNIT,
    UNIT,
)
def test_past_the_deadline_a_refusal_never_dead_letters(token_wait, late, deadline, spread, pace):
    elapsed = deadline + late
    gate = after_refusal(token_wait, elapsed, Lane.OLD, deadline)
    action = wait_at_gate(gate, Timing(3, elapsed, 0.1), deadline, spread, pace)
    assert isinstance(action, Reschedule)
    assert action.reason == "budget"
    # It waits for the token (or longer, paced by its age): not less than the bucket said
    # (whole seconds, rounded to the nearest), within the longest wait a message is given.
    assert action.delay >= min(token_wait, 900.0) - 0.5


def test_only_a_wait_is_rescheduled():
    with pytest.raises(ValueError):
        wait_at_gate(Gate(True), Timing(0, 1.0), 900.0, 0.5, 0.5)


def test_reasons_keep_the_words_the_logs_and_dead_letters_use():
    assert [r.value for r in GateReason] == ["swept", "budget"]


def test_a_running_sweep_overrides_any_allowance():
    """While a sweep runs the pollers keep to their share: an allowance left from before does
    not let them poll unmetered beside it."""
    cfg = config()
    sweeping = Coverage(NOW, 200.0, 5.0, allowance=Allowance(NOW + 100.0))
    step = at_gate(10_000.0, 0.0, NOW, sweeping, cfg)  # older than the horizon: not covered
    assert isinstance(step, AskToken)
    assert step.budget == cfg.split().per_order
    off = at_gate(10_000.0, 0.0, NOW, sweeping, config(sweep_enabled=False))
    assert isinstance(off, AskToken)


def test_while_the_sweeper_lends_its_share_the_loan_is_asked_for_in_the_old_lane():
    cfg = config()
    lent = Coverage(swept_at=1000.0, horizon=300.0, interval=10.0, sweep_share=0.5)
    old = at_gate(age=2000.0, elapsed=2000.0, now=1000.0, coverage=lent, config=cfg)
    new = at_gate(age=400.0, elapsed=400.0, now=1000.0, coverage=lent, config=cfg)
    assert isinstance(old, AskToken) and isinstance(new, AskToken)
    assert old.lane is Lane.OLD and new.lane is Lane.NEW
    assert old.old_share == new.old_share > 0.5
    assert old.budget == cfg.split(0.5).per_order
    kept = Coverage(swept_at=1000.0, horizon=300.0, interval=10.0, sweep_share=cfg.sweep_share)
    step = at_gate(age=400.0, elapsed=400.0, now=1000.0, coverage=kept, config=cfg)
    assert isinstance(step, AskToken) and step.old_share == 0.5
