"""Hour buckets and how a window splits over them (relay.domain.hours), property-based."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relay.domain.hours import HOUR_SECONDS, bucket_start, hour_bucket, hour_buckets, slices

T0 = 1_760_000_000.0
times = st.floats(min_value=T0, max_value=T0 + 4 * 86_400, allow_nan=False)
SETTLE = 900.0


def test_bucket_is_the_utc_hour() -> None:
    assert hour_bucket(1_760_000_000.0) == "2025100908"  # 2025-10-09 08:53:20Z
    assert bucket_start("2025100908") == 1_759_996_800.0
    assert hour_bucket(1_759_996_800.0) == "2025100908"  # the first second is in the hour
    assert hour_bucket(1_759_996_800.0 - 0.001) == "2025100907"


@given(times)
def test_a_time_lies_in_its_bucket(t: float) -> None:
    start = bucket_start(hour_bucket(t))
    assert start <= t < start + HOUR_SECONDS


@given(times, times, times, times)
def test_slices_cover_exactly_the_window(a: float, b: float, t: float, now: float) -> None:
    start, end = sorted((a, b))
    parts = slices(start, end, now, SETTLE)
    assert [p.bucket for p in parts] == hour_buckets(start, end)
    holders = [p for p in parts if p.contains(t)]
    assert len(holders) == (1 if start < t <= end else 0)
    for p in parts:
        if p.whole:  # every time of a whole hour is in the window
            first = bucket_start(p.bucket)
            assert start < first and first + HOUR_SECONDS - 0.001 <= end


@given(times, times, times)
def test_only_whole_hours_that_ended_long_enough_ago_are_settled(
    a: float, b: float, now: float
) -> None:
    start, end = sorted((a, b))
    for p in slices(start, end, now, SETTLE):
        ended = bucket_start(p.bucket) + HOUR_SECONDS
        assert p.settled == (p.whole and ended + SETTLE <= now)


def test_a_partial_edge_hour_is_never_settled() -> None:
    hour = bucket_start("2025100908")
    parts = slices(
        hour + 10, hour + 3 * HOUR_SECONDS + 5, now=hour + 10 * HOUR_SECONDS, settle_seconds=SETTLE
    )
    assert [(p.whole, p.settled) for p in parts] == [
        (False, False),
        (True, True),
        (True, True),
        (False, False),
    ]
    # (start, end] with start exactly on an hour: that hour's first second is outside
    first, *_ = slices(
        hour, hour + HOUR_SECONDS, now=hour + 5 * HOUR_SECONDS, settle_seconds=SETTLE
    )
    assert not first.whole and not first.contains(hour) and first.contains(hour + 0.001)
