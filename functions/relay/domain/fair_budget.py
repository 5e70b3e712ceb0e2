"""Who gets the per-order pollers' requests when there are not enough: pure arithmetic.

Two lanes share the per-order budget. NEW holds orders still inside the supplier deadline (the
normal flow); OLD holds orders past it: redriven dead letters, orders that waited through a
storefront outage or an overload. Each lane has its own token bucket with a guaranteed share of
the rate, so a redrive of thousands cannot starve new orders and a steady flow of new orders
cannot starve a redrive. The budget is work-conserving: a lane whose own bucket is empty may
borrow the other lane's tokens, but never the one that lane keeps for its next request (with a
one-token lane: only a token nobody in that lane took within IDLE_GRACE_SECONDS of its refill),
and not at all while the other lane was itself refused within `memory` seconds (it has demand
of its own). A refusal is remembered in the lane (`starved_at`), which is also
the demand signal the sweeper reads to lend the pollers more of the key while old orders wait
(`backlog_starved_since`, `next_sweep_share`), but never the part its own plan uses
(`lending_floor`).

Why the two lanes never exceed the key: their buckets' bursts add up to the per-order burst and
their rates to its rate (rounded down when a lane's burst has to be raised to one token), so the
pair lets through no more in any window than the single bucket it replaces. A lane needs a burst
of at least one token, so a per-order budget with a burst under two pays for the second token
from the rate (about 4 % of the default 15 % share; more for keys far below 100 requests/min).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

from relay.domain.rate_budget import WINDOW_SECONDS, BucketState, RateBudget, back_off

OLD_SHARE: Final = 0.5  # the OLD lane's guaranteed part of the per-order rate
MAX_OLD_SHARE: Final = 0.95  # with the sweeper's loan (old_share_with_loan); NEW keeps a lane
STARVED_MEMORY_SECONDS: Final = 30.0  # a refusal this recent means the lane has demand
SHARE_STEP: Final = 0.9  # the sweeper gives up this factor of its share per sweep under demand
NEVER: Final = -math.inf
# A poller refused a token comes back when the token is due plus up to ~2 s (its jitter and
# SQS's whole-second visibility): a one-token lane's full bucket is idle only after that.
IDLE_GRACE_SECONDS: Final = 2.0


class Lane(Enum):
    NEW = "new"
    OLD = "old"

    @property
    def other(self) -> Lane:
        return Lane.OLD if self is Lane.NEW else Lane.NEW


def lane_for(age: float, deadline: float) -> Lane:
    """OLD once the order has been accepted longer ago than the supplier deadline."""
    return Lane.OLD if age >= deadline else Lane.NEW


@dataclass(frozen=True)
class LaneState:
    """One lane's token bucket and when that lane was last refused a token."""

    bucket: BucketState
    starved_at: float = NEVER  # the last refusal: this lane wanted a token and got none


@dataclass(frozen=True)
class FairState:
    """Both lanes of the shared per-order bucket: new orders and old ones."""

    new: LaneState
    old: LaneState

    def lane(self, lane: Lane) -> LaneState:
        return self.new if lane is Lane.NEW else self.old

    def with_lane(self, lane: Lane, state: LaneState) -> FairState:
        return replace(self, new=state) if lane is Lane.NEW else replace(self, old=state)

    def starved_since(self, since: float) -> bool:
        """Was any lane refused a token at or after `since`?"""
        return max(self.new.starved_at, self.old.starved_at) >= since

    def backlog_starved_since(self, since: float) -> bool:
        """Was the OLD lane (orders past the deadline: a redrive, an outage's backlog) refused a
        token at or after `since`? That is the demand the sweeper lends its share to: those
        orders are beyond any sweep's reach. NEW-lane refusals are not: at high load they are
        orders just beyond the sweep's horizon, and a smaller sweep share would only push the
        horizon in and make more of them (a spiral the bench showed)."""
        return self.old.starved_at >= since


@dataclass(frozen=True)
class FairGrant:
    """The answer to one lane's ask for a token, and the state to store either way."""

    granted: bool
    state: FairState  # store this whether or not the token was granted
    wait: float  # seconds until this lane could expect a token; 0 when granted
    borrowed: bool = False


@dataclass(frozen=True)
class FairBudget:
    """The per-order budget `total` split into the NEW and OLD lanes."""

    total: RateBudget
    old_share: float = OLD_SHARE
    memory: float = STARVED_MEMORY_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.old_share < 1:
            raise ValueError("old_share must be in (0, 1)")
        if not self.memory >= 0:
            raise ValueError("memory must be >= 0")

    def lane_budget(self, lane: Lane) -> RateBudget:
        share = self.old_share if lane is Lane.OLD else 1.0 - self.old_share
        burst = max(1.0, self.total.burst * share)
        other_burst = max(1.0, self.total.burst * (1.0 - share))
        # A burst raised to one token is paid for from the rate, so the pair stays within total.
        excess = max(0.0, burst + other_burst - self.total.burst)
        rate = self.total.rate * share - excess * share / WINDOW_SECONDS
        return RateBudget(rate=max(rate, self.total.rate * share * 1e-3), burst=burst)

    def full(self, now: float) -> FairState:
        return FairState(
            LaneState(self.lane_budget(Lane.NEW).full(now)),
            LaneState(self.lane_budget(Lane.OLD).full(now)),
        )

    def take(self, state: FairState, lane: Lane, now: float) -> FairGrant:
        own_budget = self.lane_budget(lane)
        own = own_budget.take(state.lane(lane).bucket, now)
        if own.granted:
            return FairGrant(
                True, state.with_lane(lane, replace(state.lane(lane), bucket=own.state)), 0.0
            )
        other_lane = lane.other
        other = state.lane(other_lane)
        after_own = state.with_lane(lane, replace(state.lane(lane), bucket=own.state))
        lender = self.lane_budget(other_lane)
        wait = own.wait
        if other.starved_at < now - self.memory:
            if _can_lend(lender, other.bucket, now):
                lent = lender.take(other.bucket, now)
                if lent.granted:
                    lent_state = after_own.with_lane(other_lane, replace(other, bucket=lent.state))
                    return FairGrant(True, lent_state, 0.0, borrowed=True)
            wait = min(wait, _until_lendable(lender, other.bucket, now))
        refused = replace(after_own.lane(lane), starved_at=max(now, state.lane(lane).starved_at))
        return FairGrant(False, after_own.with_lane(lane, refused), wait)

    def back_off(self, state: FairState, retry_after: float, now: float) -> FairState:
        """A 429: both lanes wait out Retry-After (their demand memories are kept)."""
        return FairState(
            replace(
                state.new,
                bucket=back_off(self.lane_budget(Lane.NEW), state.new.bucket, retry_after, now),
            ),
            replace(
                state.old,
                bucket=back_off(self.lane_budget(Lane.OLD), state.old.bucket, retry_after, now),
            ),
        )


def _can_lend(lender: RateBudget, bucket: BucketState, now: float) -> bool:
    """Does the lane spare a token? It does if one stays for its own next request, or if its
    bucket has been full for longer than its own pollers take to come back for it."""
    current = lender.refill(bucket, now)
    if current.tokens >= 2.0 - 1e-9:
        return True
    if current.tokens < lender.burst - 1e-9:
        return False
    full_at = bucket.updated_at + max(0.0, lender.burst - bucket.tokens) / lender.rate
    return now >= full_at + min(1.0 / lender.rate, IDLE_GRACE_SECONDS)


def _until_lendable(lender: RateBudget, bucket: BucketState, now: float) -> float:
    """Seconds until `_can_lend` turns true if nobody in that lane spends meanwhile."""
    current = lender.refill(bucket, now)
    not_before = max(0.0, current.updated_at - now)  # a back-off pushed refills ahead
    if lender.burst >= 2.0:
        return not_before + max(0.0, 2.0 - current.tokens) / lender.rate
    full_at = bucket.updated_at + max(0.0, lender.burst - bucket.tokens) / lender.rate
    return max(not_before, full_at + min(1.0 / lender.rate, IDLE_GRACE_SECONDS) - now, 0.0)


def old_share_with_loan(configured_sweep_share: float, sweep_share: float) -> float:
    """The OLD lane's part of the per-order budget while the sweeper lends part of its share.

    The sweeper lends only because the OLD lane was refused tokens (`backlog_starved_since`),
    so the loan goes to that lane: it keeps its guaranteed part of the configured per-order
    budget and gets the whole loan on top, while the NEW lane keeps what it had. Split evenly,
    the NEW lane (at a high load always short of tokens for the orders beyond the sweep's
    reach) would spend half the loan, the OLD lane would stay short, and the sweeper would go
    on lending down to its floor, slowing every sweep for a demand a small loan meets."""
    if not 0 < configured_sweep_share < 1:
        raise ValueError("configured_sweep_share must be in (0, 1)")
    if not 0 < sweep_share < 1:
        return OLD_SHARE  # no share published that a loan could be read from
    loan = configured_sweep_share - sweep_share
    if loan <= 0:
        return OLD_SHARE
    old = OLD_SHARE * (1.0 - configured_sweep_share) + loan
    return min(MAX_OLD_SHARE, max(OLD_SHARE, old / (1.0 - sweep_share)))


def next_sweep_share(
    current: float, pollers_starved: bool, *, floor: float, ceiling: float
) -> float:
    """The sweeper's share of the key for its next sweep.

    While per-order pollers are refused tokens (orders older than the sweep's reach are waiting),
    the sweeper lends them part of its share, a step per sweep down to `floor`; once they are
    not, it takes the share back a step per sweep up to `ceiling` (the configured share).
    """
    if not 0 < floor <= ceiling < 1:
        raise ValueError("need 0 < floor <= ceiling < 1")
    current = min(max(current, floor), ceiling)
    if pollers_starved:
        return max(floor, current * SHARE_STEP)
    return min(ceiling, 1.0 - (1.0 - current) * SHARE_STEP)


def lending_floor(ceiling: float, used: float) -> float:
    """The lowest share the sweeper lends down to: half its configured share (`ceiling`), but
    never below the share of the key its own plan wants (`used`: all of `ceiling` when the
    budget paces the sweep, see relay.domain.sweep.SweepPlan.wanted_share; not finite: no plan
    yet, half), except for one step (`SHARE_STEP`), which it can always lend.

    A sweep lends what it does not need. A sweep that needs its whole share to read its horizon
    in time (a high load) lends one step: a deeper loan slowed the sweep for all the orders it
    finds, to poll a few orders past its reach (at a high load mostly orders that never end,
    polled up to their deadline); DES at 40,000 orders/h, three seeds: a loan down to half cost
    the p99 time-to-deliver 10-30 s on every member of the population family. With no loan at
    all those orders waited on the pollers' own share: 25 minutes after the last arrival, 70-180
    orders were still open. One step roughly doubles the old orders' lane for 10 % of the
    sweep's pace (p99 +5-7 s, nothing left open). At a low load, or when a redrive or an
    outage's backlog waits while the sweep needs little, the loan goes down to half as before."""
    if not 0 < ceiling < 1:
        raise ValueError("ceiling must be in (0, 1)")
    half = ceiling / 2
    if not math.isfinite(used):
        return half
    return min(ceiling * SHARE_STEP, max(half, used))
