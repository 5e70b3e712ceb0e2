import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.schedule import (
    MAX_VISIBILITY_SECONDS,
    FoxReloadGuidancePolicy,
    RelayPolicy,
    ScheduleInput,
    SeedPolicy,
    clip_to_deadline,
    policy_named,
    visibility_timeout,
)


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 3.0, 3.9), (1, 4.5, 5.85), (3, 10.125, 13.1625), (5, 15.0, 19.5), (40, 15.0, 19.5)],
)
def test_seed_policy_matches_the_article(attempt, low, high):
    policy = SeedPolicy()
    assert policy.delay(ScheduleInput(attempt, 0.0), 0.0) == pytest.approx(low)
    assert policy.delay(ScheduleInput(attempt, 0.0), 0.999999) == pytest.approx(high, rel=1e-5)


@given(st.integers(0, 10_000), st.floats(0, 1, exclude_max=True))
def test_seed_policy_is_bounded(attempt, rand):
    assert 3.0 <= SeedPolicy().delay(ScheduleInput(attempt, 0.0), rand) <= 19.5


def test_foxreload_guidance_is_5s_for_a_minute_then_15_to_30():
    policy = FoxReloadGuidancePolicy()
    assert policy.delay(ScheduleInput(3, 30.0), 0.5) == 5.0
    assert policy.delay(ScheduleInput(12, 61.0), 0.0) == 15.0
    assert policy.delay(ScheduleInput(12, 61.0), 0.999) == pytest.approx(29.985)


@given(
    st.integers(0, 500),
    st.floats(0, 100_000, allow_nan=False),
    st.floats(0, 1, exclude_max=True),
)
def test_relay_policy_stays_within_base_and_cap(attempt, elapsed, rand):
    policy = RelayPolicy()
    delay = policy.delay(ScheduleInput(attempt, elapsed), rand)
    assert policy.base / 2 <= delay <= policy.cap * (1 + policy.jitter / 2)


def test_relay_policy_grows_with_order_age_not_attempts():
    policy = RelayPolicy()
    young = policy.delay(ScheduleInput(attempt=50, elapsed=5.0), 0.5)
    old = policy.delay(ScheduleInput(attempt=1, elapsed=60.0), 0.5)
    assert young < old


@pytest.mark.parametrize("policy", [SeedPolicy(), RelayPolicy(), FoxReloadGuidancePolicy()])
@given(retry_after=st.floats(0, 3600, allow_nan=False), rand=st.floats(0, 1, exclude_max=True))
def test_every_policy_honours_retry_after(policy, retry_after, rand):
    delay = policy.delay(ScheduleInput(0, 0.0, retry_after=retry_after), rand)
    assert delay >= retry_after


def test_policy_named_knows_each_policy():
    assert policy_named("seed", 1, 2, 0.1).name == "seed"
    assert policy_named("relay", 1, 2, 0.1).name == "relay"
    assert policy_named("foxreload-docs", 1, 2, 0.1).name == "foxreload-docs"
    with pytest.raises(ValueError, match="unknown poll policy"):
        policy_named("fast", 1, 2, 0.1)


@pytest.mark.parametrize(
    ("delay", "expected"),
    [(0.0, 1), (0.4, 1), (1.49, 1), (1.5, 2), (2.5, 3), (7.2, 7), (43_200.4, 43_200), (1e9, 43_200)],
)
def test_visibility_is_whole_seconds_rounded_and_clamped(delay, expected):
    assert visibility_timeout(delay) == expected


def test_visibility_subtracts_time_already_spent_on_this_receive():
    assert visibility_timeout(1e9, seconds_since_receive=10.2) == MAX_VISIBILITY_SECONDS - 11


@pytest.mark.parametrize("delay", [math.nan, math.inf, -5.0])
def test_visibility_survives_odd_floats(delay):
    assert 1 <= visibility_timeout(delay) <= MAX_VISIBILITY_SECONDS


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 50_000))
def test_visibility_is_always_a_legal_sqs_value(delay, spent):
    value = visibility_timeout(delay, spent)
    assert isinstance(value, int)
    assert 1 <= value <= MAX_VISIBILITY_SECONDS


def test_clip_to_deadline_never_sleeps_past_the_deadline():
    assert clip_to_deadline(30.0, elapsed=880.0, give_up_after=900.0) == 20.0
    assert clip_to_deadline(5.0, elapsed=10.0, give_up_after=900.0) == 5.0
    assert clip_to_deadline(5.0, elapsed=950.0, give_up_after=900.0) == 0.0
