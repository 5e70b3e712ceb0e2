"""The completion-age estimate: what it learns from listed orders, how fast it forgets."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.domain.completion_age import (
    BINS,
    LAST_EDGE,
    LOWER_EDGES,
    MAX_AGE,
    CompletionAges,
    Decay,
    bin_of,
)


def listing(rng: random.Random, mean: float, n: int, oldest: float = 900.0):
    """n listed orders of uniform age, each terminal iff its (exponential) completion age
    has passed: a stationary population seen on list pages."""
    out = []
    for _ in range(n):
        age = rng.uniform(0, oldest)
        out.append((age, rng.expovariate(1 / mean) <= age))
    return out


def learn(estimate: CompletionAges, rng, mean, sweeps, start, step=3.0, n=100):
    for k in range(sweeps):
        estimate = estimate.observe(listing(rng, mean, n), start + k * step)
    return estimate


def test_bins_cover_every_age_once():
    assert LOWER_EDGES[0] == 0 and LOWER_EDGES[-1] == LAST_EDGE and len(LOWER_EDGES) == BINS
    assert all(a < b for a, b in zip(LOWER_EDGES, LOWER_EDGES[1:], strict=False))
    for i, lower in enumerate(LOWER_EDGES):
        assert bin_of(lower) == i
        assert bin_of(math.nextafter(lower, math.inf)) == i
        if i:
            assert bin_of(math.nextafter(lower, 0)) == i - 1


def test_nothing_learned_answers_nothing():
    empty = CompletionAges()
    assert empty.weight() == 0
    assert empty.quantile(0.99) is None
    assert empty.completed_by(30.0) is None
    assert empty.edge() is None
    assert empty.mass(0.0, 100.0) == 0.0


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_converges_to_a_stationary_distributions_quantiles(q):
    estimate = learn(CompletionAges(), random.Random(7), mean=30.0, sweeps=400, start=0.0)
    truth = -30.0 * math.log(1 - q)
    # log-spaced bins are ~21 % wide; the estimate is within about one bin of the truth
    assert truth / 1.3 <= estimate.quantile(q) <= truth * 1.3


def test_a_population_that_never_ends_in_part_levels_off_and_quantiles_are_of_those_that_end():
    rng = random.Random(3)
    estimate = CompletionAges()
    for k in range(400):
        obs = [(a, t and rng.random() > 0.05) for a, t in listing(rng, 30.0, 100)]
        estimate = estimate.observe(obs, 3.0 * k)
    top = estimate.completed_by(900.0)
    assert top is not None and 0.92 <= top <= 0.98
    assert 30 * math.log(2) / 1.3 <= estimate.quantile(0.5) <= 30 * math.log(2) * 1.3


def test_follows_a_slowdown_and_a_speedup_within_minutes():
    rng = random.Random(11)
    estimate = learn(CompletionAges(), rng, mean=20.0, sweeps=600, start=0.0)  # 30 min
    assert estimate.quantile(0.9) == pytest.approx(20 * math.log(10), rel=0.3)
    slow = learn(estimate, rng, mean=60.0, sweeps=100, start=1800.0)  # 5 min, 3x slower
    assert slow.quantile(0.9) == pytest.approx(60 * math.log(10), rel=0.3)
    fast = learn(slow, rng, mean=20.0, sweeps=100, start=2100.0)
    assert fast.quantile(0.9) == pytest.approx(20 * math.log(10), rel=0.3)


def test_follows_a_shift_at_low_load_through_the_time_half_life():
    # low load: one sweep every 6 s sees 40 listed orders (1,000/hour lists 100 every 2.4 s)
    rng = random.Random(5)
    estimate = learn(CompletionAges(), rng, mean=20.0, sweeps=600, start=0.0, step=6.0, n=40)
    slow = learn(estimate, rng, mean=60.0, sweeps=60, start=3600.0, step=6.0, n=40)  # 6 min
    assert slow.quantile(0.9) == pytest.approx(60 * math.log(10), rel=0.35)


def test_observation_half_life_forgets_within_a_bin_at_high_load():
    decay = Decay(seconds=1e9, observations=50.0)
    estimate = CompletionAges().observe([(10.0, False)] * 1000, 0.0, decay)
    estimate = estimate.observe([(10.0, True)] * 400, 0.0, decay)  # 8 half-lives later
    assert estimate.completed_by(10.0) is not None
    assert estimate.done[bin_of(10.0)] / estimate.seen[bin_of(10.0)] > 0.99


ages = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 2000),
    st.sampled_from([math.nan, -1.0, math.inf, -math.inf, MAX_AGE * 2, 1e308]),
)
sightings = st.lists(st.tuples(ages, st.booleans()), max_size=60)


@given(st.lists(sightings, min_size=1, max_size=8), st.floats(0, 1e6))
@settings(max_examples=150, deadline=None)
def test_bad_ages_are_ignored_and_state_stays_sane(batches, start):
    estimate = CompletionAges()
    clean = CompletionAges()
    for k, batch in enumerate(batches):
        now = start + k
        estimate = estimate.observe(batch, now)
        good = [(a, t) for a, t in batch if math.isfinite(a) and 0 <= a <= MAX_AGE]
        clean = clean.observe(good, now)
    assert estimate == clean
    assert all(math.isfinite(v) and v >= 0 for v in estimate.seen + estimate.done)
    assert all(d <= s + 1e-9 for d, s in zip(estimate.done, estimate.seen, strict=True))


def test_a_clock_that_is_not_finite_changes_nothing():
    estimate = CompletionAges().observe([(5.0, True)] * 10, 100.0)
    assert estimate.observe([(5.0, False)] * 10, math.nan) == estimate
    assert estimate.observe([(5.0, False)] * 10, math.inf) == estimate


populated = st.lists(
    st.lists(st.tuples(st.floats(0, 3000), st.booleans()), min_size=1, max_size=80),
    min_size=1,
    max_size=6,
)


def build(batches):
    estimate = CompletionAges()
    for k, batch in enumerate(batches):
        estimate = estimate.observe(batch, 10.0 * k)
    return estimate


@given(populated, st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=150, deadline=None)
def test_quantiles_are_monotone_in_q(batches, q1, q2):
    estimate = build(batches)
    lo, hi = sorted((q1, q2))
    a, b = estimate.quantile(lo), estimate.quantile(hi)
    if a is None:
        assert b is None
        return
    assert b is not None and 0 <= a <= b + 1e-9


@given(populated, st.floats(0.01, 1), st.floats(1, 4000), st.floats(0, 4000))
@settings(max_examples=150, deadline=None)
def test_a_quantile_up_to_an_age_stays_within_it_and_shares_after_are_shares(
    batches, q, up_to, age
):
    estimate = build(batches)
    capped = estimate.quantile(q, up_to)
    if capped is None:
        assert estimate.quantile(q) is None
        return
    assert 0 <= capped <= up_to + 1e-9
    if up_to >= 86400.0 or all(a <= up_to for a, _ in estimate.points()):
        assert capped == pytest.approx(estimate.quantile(q))
    share = estimate.share_ending_after(age, up_to)
    if share is not None:
        assert 0 <= share <= 1 + 1e-9
        later = estimate.share_ending_after(min(up_to, age + 100.0), up_to)
        assert later is not None and later <= share + 1e-9  # fewer end after an older age


@given(populated, st.floats(0, 4000))
@settings(max_examples=150, deadline=None)
def test_censoring_keeps_only_the_bins_younger_than_the_age(batches, age):
    estimate = build(batches)
    censored = estimate.censored_at(age)
    for i, lower in enumerate(LOWER_EDGES):
        if lower < age:
            assert (censored.seen[i], censored.done[i]) == (estimate.seen[i], estimate.done[i])
        else:
            assert censored.seen[i] == censored.done[i] == 0.0
    assert censored.weight() <= estimate.weight()


@given(populated, st.floats(0, 4000), st.floats(0, 4000))
@settings(max_examples=150, deadline=None)
def test_cdf_is_monotone_and_masses_are_shares(batches, x, y):
    estimate = build(batches)
    lo, hi = sorted((x, y))
    f_lo, f_hi = estimate.completed_by(lo), estimate.completed_by(hi)
    if f_lo is None:
        return
    assert f_hi is not None and 0 <= f_lo <= f_hi + 1e-12 <= 1 + 1e-9
    assert 0 <= estimate.mass(lo, hi) <= 1 + 1e-9


@given(populated)
@settings(max_examples=150, deadline=None)
def test_serializes_losslessly(batches):
    estimate = build(batches)
    assert CompletionAges.from_wire(estimate.to_wire()) == estimate
    assert len(estimate.to_wire()) < 2000  # one small coordination item


@pytest.mark.parametrize(
    "text", ["", "x;;;", "ca1;1;1,2;1,2", "ca1;nan;" + ",".join(["1"] * BINS) * 2]
)
def test_refuses_what_it_did_not_write(text):
    with pytest.raises(ValueError):
        CompletionAges.from_wire(text)
