"""When to poll next: named, pure schedule policies and the SQS visibility arithmetic.

A policy maps (attempt, time since enqueue, hints such as Retry-After, a random draw in [0, 1))
to a delay in seconds. The random draw is an argument so that the benchmark, the simulator and
the tests can replay a schedule exactly; the handler passes `random.random()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Protocol

MAX_VISIBILITY_SECONDS: Final = 12 * 60 * 60  # SQS limit for one receive
MIN_VISIBILITY_SECONDS: Final = 1  # 0 would make the message visible at once: a hot loop


@dataclass(frozen=True)
class ScheduleInput:
    """What a polling schedule decides the next delay from."""

    attempt: int  # 0 on the first receive (ApproximateReceiveCount - 1)
    elapsed: float  # seconds since the message was enqueued (SentTimestamp)
    retry_after: float | None = None  # from a 429 / 503 Retry-After
    status: str | None = None  # last FoxReload status seen, if any


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    def delay(self, inp: ScheduleInput, rand: float) -> float: ...


@dataclass(frozen=True)
class SeedPolicy:
    """The seed article's `nextPollDelay`: 3 s x 1.5^attempt, capped at 15 s, plus 0-30% jitter."""

    base: float = 3.0
    factor: float = 1.5
    cap: float = 15.0
    jitter: float = 0.3
    name: str = "seed"

    def delay(self, inp: ScheduleInput, rand: float) -> float:
        exp = min(self.base * self.factor ** max(0, min(inp.attempt, 64)), self.cap)
        return with_retry_after(exp + rand * self.jitter * exp, inp.retry_after, rand, self.jitter)


@dataclass(frozen=True)
class FoxReloadGuidancePolicy:
    """FoxReload's documented schedule: every 5 s for the first minute, then every 15-30 s."""

    fast_interval: float = 5.0
    fast_window: float = 60.0
    slow_min: float = 15.0
    slow_max: float = 30.0
    name: str = "foxreload-docs"

    def delay(self, inp: ScheduleInput, rand: float) -> float:
        if inp.elapsed < self.fast_window:
            base = self.fast_interval
        else:
            base = self.slow_min + rand * (self.slow_max - self.slow_min)
        return with_retry_after(base, inp.retry_after, rand, 0.3)


@dataclass(frozen=True)
class RelayPolicy:
    """The relay's default: the wait grows with the order's age, not with the attempt count.

    An order that is `elapsed` seconds old is polled again after `fraction x elapsed` (at least
    `base`), so the detection lag stays a bounded share of the order's own fulfilment time, and
    redeliveries or throttled receives do not inflate the schedule the way an attempt-count
    exponent does. The wait is capped at `early_cap` while the order is younger than
    `late_after` (where FoxReload's orders complete) and at `cap` after that (orders that old
    rarely complete, so polling them as often only spends the rate budget). Jitter is symmetric
    (+-jitter/2) so the mean wait is the nominal one. Defaults chosen with the bench
    (docs/performance.md): on FoxReload's documented timing (completions spread over 4-30 s)
    an almost even 9-10 s beat for the first 4 minutes, then 60 s, beats the seed's
    exponential on both API requests per order and p99 detection lag.
    """

    base: float = 9.0
    fraction: float = 0.8
    cap: float = 60.0
    jitter: float = 0.1
    name: str = "relay"
    early_cap: float = 10.0
    late_after: float = 240.0

    def delay(self, inp: ScheduleInput, rand: float) -> float:
        elapsed = max(0.0, inp.elapsed)
        cap = self.cap if elapsed >= self.late_after else min(self.early_cap, self.cap)
        nominal = min(cap, max(self.base, self.fraction * elapsed))
        jittered = nominal * (1.0 + self.jitter * (rand - 0.5))
        return with_retry_after(max(self.base / 2, jittered), inp.retry_after, rand, self.jitter)


def with_retry_after(delay: float, retry_after: float | None, rand: float, jitter: float) -> float:
    """Honour a server's Retry-After: never sooner than it, plus jitter so callers spread out."""
    if retry_after is None:
        return delay
    spread = max(1.0, jitter * retry_after)
    return max(delay, retry_after + rand * spread)


# Every name `policy_named` knows; POLL_POLICY (relay.setting_specs) accepts exactly these.
POLICY_NAMES: Final = ("relay", "seed", "foxreload-docs")


def policy_named(name: str, base: float, cap: float, jitter: float) -> Policy:
    if name == "seed":
        return SeedPolicy()
    if name == "relay":
        return RelayPolicy(base=base, cap=cap, jitter=jitter)
    if name == "foxreload-docs":
        return FoxReloadGuidancePolicy()
    raise ValueError(f"unknown poll policy {name!r}")


def clip_to_deadline(delay: float, elapsed: float, give_up_after: float) -> float:
    """Never sleep past the deadline: the last look happens at the deadline itself."""
    remaining = give_up_after - elapsed
    return max(0.0, min(delay, remaining))


def visibility_timeout(delay: float, seconds_since_receive: float = 0.0) -> int:
    """A delay as an SQS visibility timeout: whole seconds, at least 1, within the 12 h limit.

    Rounded to the nearest second (the jitter makes sub-second precision meaningless). The 12 h
    cap counts from the receive, so time already spent on this receive is taken off.
    """
    if math.isnan(delay):
        delay = float(MIN_VISIBILITY_SECONDS)
    ceiling = max(MIN_VISIBILITY_SECONDS, MAX_VISIBILITY_SECONDS - math.ceil(seconds_since_receive))
    if math.isinf(delay):
        return ceiling
    whole = math.floor(delay + 0.5)
    return int(min(ceiling, max(MIN_VISIBILITY_SECONDS, whole)))
