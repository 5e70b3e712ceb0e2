"""The FoxReload API key's request budget as pure token-bucket arithmetic.

FoxReload allows 100 requests per minute per key (a 429 with Retry-After beyond that). The relay
spends that budget deliberately instead of discovering it through 429s: every API request first
takes a token here. Nothing in this module does I/O or reads a clock; the caller passes `now`
and stores the returned `BucketState` (the sweeper in memory, the per-order pollers in one
DynamoDB item written with a conditional put on the state it read).

Why the defaults never cause a 429: a bucket with sustained rate r per second and burst b sends
at most b + r x 60 requests in any 60 s window, whatever the arrival pattern. Keeping
b + r x 60 <= 100 therefore satisfies a sliding-window limit (the strictest common limiter and
the one the simulator implements), and so a fixed-window or token-bucket limiter too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

FOXRELOAD_REQUESTS_PER_MINUTE: Final = 100
WINDOW_SECONDS: Final = 60.0


@dataclass(frozen=True)
class BucketState:
    """A token bucket's level at its last refill."""

    tokens: float
    updated_at: float  # the `now` of the last refill (epoch seconds or simulated seconds)


@dataclass(frozen=True)
class Grant:
    """The answer to an ask for tokens, and the state to store either way."""

    granted: bool
    state: BucketState  # store this whether or not the token was granted
    wait: float  # seconds until `cost` tokens above the reserve exist; 0 when granted


@dataclass(frozen=True)
class RateBudget:
    """A token bucket: `rate` tokens per second, holding at most `burst`."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("rate must be a positive finite number")
        if not (self.burst >= 1 and math.isfinite(self.burst)):
            raise ValueError("burst must be at least 1 and finite")

    def full(self, now: float) -> BucketState:
        return BucketState(self.burst, now)

    def refill(self, state: BucketState, now: float) -> BucketState:
        """Tokens at `now`. A clock that went backwards adds nothing (and never removes any)."""
        elapsed = max(0.0, now - state.updated_at)
        tokens = min(self.burst, max(0.0, state.tokens) + elapsed * self.rate)
        return BucketState(tokens, max(now, state.updated_at))

    def take(
        self, state: BucketState, now: float, cost: float = 1.0, reserve: float = 0.0
    ) -> Grant:
        """Spend `cost` tokens if at least `reserve` would remain afterwards.

        `reserve` lets a lower-priority caller leave tokens for a higher-priority one sharing the
        bucket. When refused, `wait` says how long until the take would succeed if nobody else
        spent meanwhile; callers add their own jitter before retrying.
        """
        if cost <= 0:
            raise ValueError("cost must be positive")
        reserve = min(max(0.0, reserve), self.burst - cost)
        current = self.refill(state, now)
        if current.tokens >= cost + reserve - 1e-9:
            return Grant(True, BucketState(current.tokens - cost, current.updated_at), 0.0)
        missing = cost + reserve - current.tokens
        not_before = max(0.0, current.updated_at - now)  # a back-off pushed refills ahead
        return Grant(False, current, not_before + missing / self.rate)

    @property
    def requests_per_window(self) -> float:
        """The most requests this bucket can let through in any WINDOW_SECONDS."""
        return self.burst + self.rate * WINDOW_SECONDS


def budget_within_limit(
    limit_per_minute: float = FOXRELOAD_REQUESTS_PER_MINUTE,
    burst: float = 10.0,
    share: float = 1.0,
) -> RateBudget:
    """The largest bucket with this burst that a sliding-window `limit_per_minute` never refuses.

    `share` (0, 1] scales both rate and burst, so buckets whose shares sum to 1 can run side by
    side (for instance the sweeper's and the per-order pollers') and still stay within the limit.
    """
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    if not 1 <= burst < limit_per_minute:
        raise ValueError("need 1 <= burst < limit_per_minute")
    rate = (limit_per_minute - burst) / WINDOW_SECONDS
    return RateBudget(rate=rate * share, burst=max(1.0, burst * share))


def split_budget(
    limit_per_minute: float = FOXRELOAD_REQUESTS_PER_MINUTE,
    burst: float = 10.0,
    sweep_share: float = 0.85,
) -> tuple[RateBudget, RateBudget]:
    """(sweeper's bucket, per-order pollers' bucket): together they never exceed the limit.

    A static split needs no coordination between the two: the sweeper is one process and keeps
    its bucket in memory; only the per-order bucket is shared (one DynamoDB item).
    """
    if not 0 < sweep_share < 1:
        raise ValueError("sweep_share must be in (0, 1)")
    sweeper = budget_within_limit(limit_per_minute, burst, sweep_share)
    per_order = budget_within_limit(limit_per_minute, burst, 1.0 - sweep_share)
    # max(1, burst x share) can round a small share's burst up: take that token off the rate.
    excess = sweeper.requests_per_window + per_order.requests_per_window - limit_per_minute
    if excess > 1e-9:
        per_order = RateBudget(per_order.rate - excess / WINDOW_SECONDS, per_order.burst)
    return sweeper, per_order


@dataclass(frozen=True)
class BudgetSplit:
    """The key's budget for a relay with a sweeper: who may spend what.

    While the sweep runs (its coverage is fresh) the per-order pollers get `per_order`; when it
    does not, they are the only spender and get `whole`. Decided by the bench: the sweeper needs
    most of the key (it reads up to ~15 pages every 12 s at 20k orders/h), per-order polls are
    then only the safety net for orders older than the sweep's horizon.
    """

    sweeper: RateBudget
    per_order: RateBudget
    whole: RateBudget

    @classmethod
    def of(
        cls,
        limit_per_minute: float = FOXRELOAD_REQUESTS_PER_MINUTE,
        burst: float = 10.0,
        sweep_share: float = 0.85,
    ) -> BudgetSplit:
        sweeper, per_order = split_budget(limit_per_minute, burst, sweep_share)
        return cls(sweeper, per_order, budget_within_limit(limit_per_minute, burst))

    def for_per_order(self, sweep_running: bool) -> RateBudget:
        return self.per_order if sweep_running else self.whole


def back_off(budget: RateBudget, state: BucketState, retry_after: float, now: float) -> BucketState:
    """FoxReload said 429 with Retry-After: empty the shared bucket and start its refill only
    when Retry-After has passed, so every other caller waits too (its first token arrives then).
    """
    resume = now + max(0.0, retry_after) - 1.0 / budget.rate
    return BucketState(0.0, max(budget.refill(state, now).updated_at, resume))
