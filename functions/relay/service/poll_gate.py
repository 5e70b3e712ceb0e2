"""Before a per-order poll: does the sweep already cover this order, and is there request budget?

The API key allows about 100 requests a minute for everything the relay does. Per-order pollers
take a token from one shared bucket (a DynamoDB item) before each request, so the relay paces
itself instead of discovering the limit through 429s; a 429 empties the bucket, so every other
invocation backs off too. With the sweeper running, per-order messages whose order it covers
wait without any request, and the pollers keep only their share of the budget: the share the
sweeper published with its coverage (it lends the pollers more while they are refused tokens).
Within that share, orders past the supplier deadline (redriven, or waiting through an outage)
and new orders each have a guaranteed lane (relay.domain.fair_budget). While no sweep runs and
per-order demand is far below the key, the sweeper grants an allowance to poll without a token
(relay.domain.poll_allowance); a 429 ends it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from relay.adapters.coordination import CoordinationTable
from relay.domain.coverage import Coverage, SweepConfig
from relay.domain.fair_budget import OLD_SHARE, FairBudget, FairGrant, Lane
from relay.domain.gate_decision import (
    AskToken,
    Gate,
    GateConfig,
    after_refusal,
    at_gate,
)
from relay.domain.gate_decision import per_order_budget as per_order_budget_for
from relay.domain.rate_budget import BudgetSplit, RateBudget
from relay.settings import PollerSettings

__all__ = ["Gate", "PollGate", "budget_split", "gate_config", "sweep_config"]

_WRITE_ATTEMPTS = 3
_COVERAGE_CACHE_SECONDS = 2.0


def budget_split(settings: PollerSettings, sweep_share: float | None = None) -> BudgetSplit:
    """The key split between the sweeper and the pollers; `sweep_share` as the sweeper last
    published it (None: the configured share, which is also its ceiling)."""
    return BudgetSplit.of(
        settings.foxreload_rate_limit_per_minute,
        burst=_burst(settings),
        sweep_share=settings.sweep_budget_share if sweep_share is None else sweep_share,
    )


def _burst(settings: PollerSettings) -> float:
    return min(10.0, settings.foxreload_rate_limit_per_minute / 10)


def sweep_config(settings: PollerSettings) -> SweepConfig:
    return SweepConfig(
        max_horizon=settings.sweep_max_horizon_seconds,
        min_interval=settings.sweep_min_interval_seconds,
        max_interval=settings.sweep_max_interval_seconds,
        cover_margin=settings.sweep_cover_margin_seconds,
        max_defer=settings.sweep_max_defer_seconds,
        stale_grace=settings.sweep_stale_grace_seconds,
        lag_target=settings.sweep_lag_target_seconds,
    )


def gate_config(settings: PollerSettings, sweep: SweepConfig | None = None) -> GateConfig:
    return GateConfig(
        sweep=sweep_config(settings) if sweep is None else sweep,
        give_up_after=settings.give_up_after_seconds,
        sweep_enabled=settings.sweep_enabled,
        limit_per_minute=settings.foxreload_rate_limit_per_minute,
        burst=_burst(settings),
        sweep_share=settings.sweep_budget_share,
    )


class PollGate:
    def __init__(
        self,
        settings: PollerSettings,
        coordination: CoordinationTable,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.coordination = coordination
        self._clock = clock  # re-read after waiting for the lock: a token refills meanwhile
        self.split = budget_split(settings)
        self.sweep = sweep_config(settings)
        self._coverage: tuple[Coverage | None, float] | None = None
        self._coverage_lock = threading.Lock()
        # The records of one batch take their tokens concurrently (one thread each). Against
        # one bucket item they would mostly lose each other's conditional writes and wait for
        # nothing: within a process one thread at a time reads and writes the item, and it
        # serves every ask queued meanwhile in that one read and write (a group commit), so a
        # batch of ten pays two or three DynamoDB round trips for its tokens instead of twenty.
        # Only other processes race (and retry).
        self._bucket_lock = threading.Lock()
        self._asks_lock = threading.Lock()
        self._asks: list[_Ask] = []

    @property
    def config(self) -> GateConfig:
        return gate_config(self.settings, self.sweep)

    def check(self, age: float, elapsed: float, now: float) -> Gate:
        """`age`: seconds since the order was accepted; `elapsed`: since this message was sent.
        The decisions are relay.domain.gate_decision's; this reads and writes what they need."""
        config = self.config
        coverage = self.coverage(now) if config.sweep_enabled else None
        step = at_gate(age, elapsed, now, coverage, config)
        if not isinstance(step, AskToken):
            return step
        grant = self.take(step.budget, now, step.lane, step.old_share)
        if grant.granted:
            return Gate(True, lane=step.lane)
        return after_refusal(grant.wait, elapsed, step.lane, config.give_up_after)

    def per_order_budget(self, fresh_coverage: Coverage | None) -> RateBudget:
        """The whole key without a running sweep; else what the sweeper leaves the pollers."""
        return per_order_budget_for(fresh_coverage, self.config)

    def coverage(self, now: float) -> Coverage | None:
        # One read serves the batch: records arriving while it is in flight wait for it.
        with self._coverage_lock:
            cached = self._coverage
            if cached is not None and abs(now - cached[1]) < _COVERAGE_CACHE_SECONDS:
                return cached[0]
            value = self.coordination.read_coverage()
            self._coverage = (value, now)
            return value

    def take(
        self,
        budget: RateBudget,
        now: float,
        lane: Lane = Lane.NEW,
        old_share: float = OLD_SHARE,
    ) -> FairGrant:
        ask = _Ask(FairBudget(budget, old_share), lane, now)
        with self._asks_lock:
            self._asks.append(ask)
        with self._bucket_lock:
            if ask.grant is None:  # nobody served it while this thread waited for the lock
                with self._asks_lock:
                    group, self._asks = self._asks, []
                self._serve(group, self._now(max(queued.now for queued in group)))
        assert ask.grant is not None
        return ask.grant

    def _serve(self, group: list[_Ask], now: float) -> None:
        """Grant or refuse each ask in turn on one read of the bucket, then store the result
        in one conditional write; on a lost race read again and redo the whole group."""
        grants: list[FairGrant] = []
        for _ in range(_WRITE_ATTEMPTS):
            stored = self.coordination.read_bucket()
            state = stored.state or group[0].budget.full(now)
            grants = []
            for ask in group:
                grant = ask.budget.take(state, ask.lane, now)
                grants.append(grant)
                state = grant.state
            # A refusal is stored too: the lane's demand is what keeps others from borrowing
            # its tokens and what makes the sweeper lend the pollers more of the key.
            if self.coordination.write_bucket(state, stored.version) or not any(
                grant.granted for grant in grants
            ):
                # Refused and someone else wrote meanwhile: their write carries demand too.
                break
        else:
            # Lost the race every time: others are spending right now; try again in a moment.
            grants = [
                FairGrant(False, state, 1.0 / ask.budget.lane_budget(ask.lane).rate)
                for ask in group
            ]
        for ask, grant in zip(group, grants, strict=True):
            ask.grant = grant

    def throttled(self, retry_after: float | None, now: float) -> None:
        """A 429: every per-order poller waits out Retry-After, not just this one, and none
        polls unmetered any more (the sweeper's allowance ends)."""
        with self._bucket_lock:
            now = self._now(now)
            self._throttled(retry_after, now)
            if self.config.sweep_enabled:
                self.coordination.revoke_allowance(now)
                self._coverage = None  # read the revocation back at the next check

    def _now(self, given: float) -> float:
        return given if self._clock is None else max(given, self._clock())

    def _throttled(self, retry_after: float | None, now: float) -> None:
        budget = FairBudget(self.split.whole)
        for _ in range(_WRITE_ATTEMPTS):
            stored = self.coordination.read_bucket()
            state = budget.back_off(stored.state or budget.full(now), retry_after or 1.0, now)
            if self.coordination.write_bucket(state, stored.version):
                return


@dataclass
class _Ask:
    """One record's request for a token, answered by whichever thread serves its group."""

    budget: FairBudget
    lane: Lane
    now: float
    grant: FairGrant | None = None
