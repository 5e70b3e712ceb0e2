"""UTC hour buckets ("YYYYMMDDHH") that partition the ledger's time indexes, and how a time
window splits over them. Pure: no I/O, no clock.

A window is half-open, `start < t <= end`, like every window in the relay. It touches a run of
consecutive hours; an hour is *whole* in it when every time of that hour lies inside, so the
hour's entries can be summed without looking at their times. Such an hour is also *settled* once
it ended at least `settle_seconds` before `now`: no entry stamped in it can still be written
(entries are written a few seconds after their stamp), so a sum over it never changes and may
be kept instead of being read again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

HOUR_SECONDS: Final = 3600
_FORMAT: Final = "%Y%m%d%H"


def hour_bucket(epoch_seconds: float) -> str:
    """The bucket of a time: its UTC hour as "YYYYMMDDHH"."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime(_FORMAT)


def bucket_start(bucket: str) -> float:
    """The first second of a bucket (epoch seconds)."""
    return datetime.strptime(bucket, _FORMAT).replace(tzinfo=UTC).timestamp()


def hour_buckets(start: float, end: float) -> list[str]:
    """Every bucket that a time in (start, end] can fall in, oldest first."""
    if end < start:
        return []
    first = math.floor(start / HOUR_SECONDS) * HOUR_SECONDS
    return [hour_bucket(hour) for hour in range(int(first), int(end) + 1, HOUR_SECONDS)]


@dataclass(frozen=True)
class HourSlice:
    """One hour bucket's part of a window: the times of `bucket` that lie in (start, end]."""

    bucket: str
    start: float  # the window's bounds (the bucket itself limits them to its hour)
    end: float
    whole: bool  # every time of the hour is inside the window
    settled: bool  # whole, and no entry for it can still arrive

    def contains(self, t: float) -> bool:
        return self.start < t <= self.end and hour_bucket(t) == self.bucket


def slices(start: float, end: float, now: float, settle_seconds: float) -> list[HourSlice]:
    """The window (start, end] hour by hour, oldest first; together exactly the window."""
    out: list[HourSlice] = []
    for bucket in hour_buckets(start, end):
        first = bucket_start(bucket)
        after = first + HOUR_SECONDS  # the hour is [first, after)
        whole = start < first and end >= after
        settled = whole and after + settle_seconds <= now
        out.append(HourSlice(bucket, start, end, whole, settled))
    return out
