"""Rate limiter, clock scaling and fault draws: pure."""

import random

import pytest

from simulator.clock import ManualClock, ScaledClock, retry_after_header
from simulator.faults import PROFILES, Fault, FaultProfile, draw, profile
from simulator.ratelimit import SlidingWindowLimiter


def test_limiter_allows_limit_then_refuses_with_time_to_wait():
    lim = SlidingWindowLimiter(3, window=60)
    assert [lim.check("k", t).allowed for t in (0, 1, 2)] == [True, True, True]
    refused = lim.check("k", 10)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(50)  # the request at t=0 ages out at 60
    assert lim.check("k", 59.9).allowed is False
    assert lim.check("k", 60).allowed is True
    assert lim.check("k", 60.5).allowed is False
    assert lim.check("k", 61).allowed is True


def test_limiter_is_per_key_and_overridable():
    lim = SlidingWindowLimiter(1, window=60)
    lim.set_limit("enterprise", 3)
    assert lim.check("a", 0).allowed and lim.check("b", 0).allowed
    assert not lim.check("a", 1).allowed
    assert all(lim.check("enterprise", t).allowed for t in (0, 1, 2))
    assert not lim.check("enterprise", 3).allowed


def test_refused_requests_do_not_extend_the_window():
    lim = SlidingWindowLimiter(2, window=10)
    lim.check("k", 0)
    lim.check("k", 0)
    for t in range(1, 10):
        assert not lim.check("k", t).allowed
    assert lim.check("k", 10).allowed


def test_limiter_sustained_rate():
    lim = SlidingWindowLimiter(100, window=60)
    allowed = sum(lim.check("k", i * 0.1).allowed for i in range(6000))  # 10 min at 10 req/s
    assert 1000 <= allowed <= 1100


def test_retry_after_is_scaled_integer_seconds_at_least_one():
    assert retry_after_header(ManualClock(scale=1), 30) == "30"
    assert retry_after_header(ManualClock(scale=1), 29.2) == "30"
    assert retry_after_header(ManualClock(scale=10), 30) == "3"
    assert retry_after_header(ManualClock(scale=100), 30) == "1"
    assert retry_after_header(ManualClock(scale=1), 0) == "1"


def test_scaled_clock_runs_faster_and_can_jump():
    clock = ScaledClock(scale=1000, start=0)
    a = clock.now()
    clock.advance(50)
    assert clock.now() - a >= 50
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        ScaledClock(scale=0)


def test_fault_draw_rates():
    prof = FaultProfile("t", error_rate=0.2, timeout_rate=0.1, malformed_rate=0.1, slow_rate=0.1)
    rng = random.Random(5)
    kinds = [draw(prof, "get_order", rng).fault for _ in range(20_000)]
    share = {k: kinds.count(k) / len(kinds) for k in Fault}
    assert share[Fault.ERROR_5XX] == pytest.approx(0.2, abs=0.02)
    assert share[Fault.TIMEOUT] == pytest.approx(0.1, abs=0.02)
    assert share[Fault.MALFORMED] == pytest.approx(0.1, abs=0.02)
    assert share[Fault.SLOW] == pytest.approx(0.1, abs=0.02)
    assert share[Fault.NONE] == pytest.approx(0.5, abs=0.02)


def test_fault_endpoint_filter_and_outage():
    prof = profile("outage").updated({"endpoints": ["get_order"]})
    rng = random.Random(1)
    assert draw(prof, "get_order", rng).fault is Fault.ERROR_5XX
    assert draw(prof, "get_order", rng).status == 503
    assert draw(prof, "create_order", rng).fault is Fault.NONE
    assert all(draw(PROFILES["none"], "get_order", rng).fault is Fault.NONE for _ in range(100))


def test_profile_update_accepts_camel_and_snake_case_and_rejects_unknown():
    prof = profile("none").updated({"errorRate": 0.5, "hang_seconds": 2, "errorStatuses": [502]})
    assert (prof.error_rate, prof.hang_seconds, prof.error_statuses) == (0.5, 2.0, (502,))
    assert prof.to_json()["errorRate"] == 0.5
    with pytest.raises(ValueError):
        prof.updated({"nope": 1})
    with pytest.raises(ValueError):
        prof.updated({"errorRate": 0.9, "timeoutRate": 0.5})
    with pytest.raises(ValueError):
        profile("unknown")
