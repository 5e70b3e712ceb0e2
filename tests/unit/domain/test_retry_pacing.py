"""Pacing, webhook backoff and the receive bound (relay.domain.retry_pacing)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from relay.domain.decision import MAX_WAIT_SECONDS, Timing, after_wait
from relay.domain.retry_pacing import (
    PACE_CAP_SECONDS,
    PACE_FRACTION,
    WEBHOOK_RETRY_BASE_SECONDS,
    WEBHOOK_RETRY_CAP_SECONDS,
    delivery_window_age,
    paced,
    receive_bound,
    webhook_retry_delay,
)

seconds = st.floats(min_value=0.0, max_value=30 * 86400.0, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0)


@given(seconds, seconds)
def test_a_paced_wait_is_never_shorter_than_asked_nor_than_its_share_of_the_age(delay, age):
    waited = paced(delay, age)
    assert waited >= delay
    assert waited >= min(PACE_FRACTION * age, PACE_CAP_SECONDS)
    assert waited == delay or waited <= PACE_CAP_SECONDS


@given(seconds, st.none() | seconds, unit)
def test_webhook_backoff_stays_within_its_base_and_cap(since, retry_after, rand):
    delay = webhook_retry_delay(since, retry_after, rand)
    assert 0.75 * WEBHOOK_RETRY_BASE_SECONDS <= delay <= 1.25 * WEBHOOK_RETRY_CAP_SECONDS
    if retry_after is not None:
        assert delay >= min(retry_after, WEBHOOK_RETRY_CAP_SECONDS)


@given(
    st.floats(min_value=60.0, max_value=3600.0),
    st.floats(min_value=3600.0, max_value=7 * 86400.0),
    st.lists(unit, min_size=1, max_size=50),
)
def test_paced_retries_never_exceed_the_receive_bound(deadline, window, draws):
    """Play a message that is never settled: polls at the smallest delay until the deadline,
    then only paced waits (the smallest the rules allow) until deadline + window."""
    min_poll = 4.5
    age, receives, i = 0.0, 0, 0
    while age < deadline:
        receives += 1
        age += min_poll
    while age < deadline + window:
        receives += 1
        age += paced(draws[i % len(draws)], age)
        i += 1
    assert receives <= receive_bound(deadline, window, min_poll)


def test_the_default_settings_fit_sqs_max_receive_count():
    assert receive_bound(900.0, 86400.0, 4.5) <= 1000
    assert receive_bound(900.0, 12 * 86400.0, 4.5) > 1000  # which synth then refuses


@given(
    age=st.floats(min_value=0.0, max_value=86_400.0),
    wait=st.floats(min_value=0.0, max_value=2_000.0),
    rand=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_wait_is_never_shorter_than_the_age_floor_and_stretches_it_by_at_most_half(
    age: float, wait: float, rand: float
) -> None:
    action = after_wait(Timing(0, age, 0.0), wait, "budget", rand)
    floor = paced(0.0, age)
    assert action.delay >= max(floor, min(wait, MAX_WAIT_SECONDS)) - 1.0  # whole seconds
    assert action.delay <= max(floor * 1.5, min(wait, MAX_WAIT_SECONDS)) + 1.0


def test_a_redriven_backlog_of_one_age_comes_back_spread_out() -> None:
    """5,000 messages of the same age waiting for budget do not return in one wave."""
    rng = random.Random(7)
    delays = {
        after_wait(Timing(0, 3600.0, 0.0), 1.0, "budget", rng.random()).delay for _ in range(500)
    }
    floor = paced(0.0, 3600.0)
    assert min(delays) >= floor - 1
    assert max(delays) - min(delays) >= 0.4 * floor  # spread over about half the floor


def test_the_delivery_window_runs_from_the_first_terminal_sight_or_a_later_enqueue():
    # the order's own message, enqueued before the relay saw the order terminal
    assert delivery_window_age(now=1000.0, terminal_seen_at=100.0, enqueued_at=50.0) == 900.0
    # a message redriven from the DLQ long after: a fresh window from its enqueue
    assert delivery_window_age(now=1000.0, terminal_seen_at=100.0, enqueued_at=990.0) == 10.0
