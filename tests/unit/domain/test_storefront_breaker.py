"""The storefront circuit breaker's arithmetic (relay.domain.storefront_breaker)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relay.domain.storefront_breaker import (
    CLOSED,
    PARK_SPREAD_CAP_SECONDS,
    BreakerConfig,
    Verdict,
    admit,
    after_delivery,
    park_delay,
)

CONFIG = BreakerConfig(failure_threshold=3, probe_interval=30.0)


def test_it_opens_after_the_threshold_of_failures_in_a_row_and_a_success_closes_it():
    state = CLOSED
    for i in range(2):
        state = after_delivery(state, CONFIG, accepted=False, now=100.0 + i)
        assert not state.is_open and admit(state, CONFIG, 101.0).verdict is Verdict.SEND
    state = after_delivery(state, CONFIG, accepted=False, now=102.0)
    assert state.is_open and state.next_probe_at == 132.0
    assert admit(state, CONFIG, 110.0).verdict is Verdict.PARK
    assert after_delivery(state, CONFIG, accepted=True, now=140.0) == CLOSED


def test_a_success_between_failures_resets_the_count():
    state = after_delivery(CLOSED, CONFIG, False, 1.0)
    state = after_delivery(state, CONFIG, False, 2.0)
    state = after_delivery(state, CONFIG, True, 3.0)
    state = after_delivery(state, CONFIG, False, 4.0)
    assert not state.is_open and state.failures == 1


@given(st.lists(st.floats(min_value=0.0, max_value=3600.0), min_size=1, max_size=200))
def test_while_open_at_most_one_probe_starts_per_interval(arrivals):
    """Workers arrive at random times; each PROBE stores its state (as the guard's conditional
    write does), so two probes are never closer than the probe interval."""
    state = CLOSED
    for i in range(CONFIG.failure_threshold):
        state = after_delivery(state, CONFIG, False, float(i))
    probes = []
    for now in sorted(a + CONFIG.failure_threshold for a in arrivals):  # after it opened
        admission = admit(state, CONFIG, now)
        if admission.verdict is Verdict.PROBE:
            probes.append(now)
            state = after_delivery(admission.state, CONFIG, False, now)  # still down
        else:
            assert admission.verdict is Verdict.PARK
            assert 0 < admission.wait <= CONFIG.probe_interval + 1e-9
    assert all(b - a >= CONFIG.probe_interval for a, b in zip(probes, probes[1:], strict=False))


@given(st.floats(min_value=0.0, max_value=86400.0), st.floats(min_value=0.0, max_value=1.0))
def test_a_park_lasts_until_the_next_probe_and_a_bounded_spread(open_for, rand):
    state = after_delivery(CLOSED, BreakerConfig(failure_threshold=1), False, 1000.0)
    now = 1000.0 + open_for
    delay = park_delay(state, now, rand)
    assert delay >= max(0.0, state.next_probe_at - now)
    assert delay <= max(0.0, state.next_probe_at - now) + 1.0 + PARK_SPREAD_CAP_SECONDS
