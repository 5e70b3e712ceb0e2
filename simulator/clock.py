"""Simulated time: wall-clock seconds that can run faster than real time, or be stepped by hand.

Everything in the simulator that has a duration (the order timeline, the rate-limit window,
payment expiry) is measured in *simulated* seconds read from a clock. With ``scale=10`` ten
simulated seconds pass per real second, so a 60 s processing time takes 6 real seconds.

The public API reports every instant (`createdAt`, `updatedAt`, `paymentExpiresAt`, the `Date`
header) on the client's clock instead (`Clock.relay_time`): simulated seconds are divided by the
scale, so an order listed 60 simulated seconds after its creation is 6 seconds old by its
`createdAt` and `Date`, and a client ages orders in its own seconds without knowing the scale.
A manual jump (`advance`) ages everything already there by the jump, in reported time too.
The control API (`/_sim/...`) keeps simulated time, as it describes the simulation.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol


class Clock(Protocol):
    scale: float

    def now(self) -> float:
        """Simulated Unix time in seconds."""
        ...

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (never backward)."""
        ...

    def relay_time(self, simulated: float) -> float:
        """The instant `simulated` as the public API reports it: on the caller's (real) clock."""
        ...


class ScaledClock:
    """Simulated time = start + (real monotonic elapsed) * scale + manual jumps."""

    def __init__(self, scale: float = 1.0, start: float | None = None) -> None:
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError("time scale must be a positive number")
        self.scale = scale
        self._start = time.time() if start is None else start
        self._t0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._start + (time.monotonic() - self._t0) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += seconds

    def relay_time(self, simulated: float) -> float:
        # The inverse of `now` without the jumps: relay_time(now()) is the real time (when the
        # clock started at real time), and differences shrink by the scale.
        with self._lock:
            return self._start + (simulated - self._start - self._offset) / self.scale


class ManualClock:
    """A clock that moves only when told to: for pure tests."""

    def __init__(self, start: float = 1_700_000_000.0, scale: float = 1.0) -> None:
        self.scale = scale
        self._start = start
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds

    def relay_time(self, simulated: float) -> float:
        return self._start + (simulated - self._start) / self.scale


def real_seconds(clock: Clock, simulated: float) -> float:
    """How long `simulated` seconds of simulated time take in real time."""
    return simulated / clock.scale


def retry_after_header(clock: Clock, simulated_wait: float) -> str:
    """Retry-After is read by real clients in real seconds: scale, round up, at least 1."""
    return str(max(1, math.ceil(real_seconds(clock, simulated_wait) - 1e-9)))
