"""Before a per-order poll: wait for the sweep, or ask for a token, and what a refusal means.

The per-order poller's gate as pure functions. `relay.service.poll_gate.PollGate` reads the
sweeper's coverage, calls `at_gate`, takes the token it names from the shared bucket, and calls
`after_refusal` when none is granted; `wait_at_gate` turns a wait into the message's reschedule
(as `OrderRelay` does). The benchmark's simulation calls the same functions in the same order,
so what it measures is the relay's own decision.

With the sweeper running, a message whose order the sweep covers waits without any request, and
the pollers keep only their share of the key: the share the sweeper published with its coverage.
A sweep that was cut short publishes a zero horizon: it covers nothing, so the pollers get the
whole key back rather than their share of it; the same holds for a horizon within the cover
margin, which covers no order. While no sweep runs and the sweeper has granted an allowance
(relay.domain.poll_allowance: per-order demand far below the key), a poll takes no token.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from relay.domain.coverage import (
    Coverage,
    SweepConfig,
    coverage_is_fresh,
    per_order_delay_when_swept,
)
from relay.domain.decision import Reschedule, Timing, after_wait
from relay.domain.fair_budget import OLD_SHARE, Lane, lane_for, old_share_with_loan
from relay.domain.rate_budget import BudgetSplit, RateBudget
from relay.domain.schedule import clip_to_deadline, visibility_timeout


class GateReason(Enum):
    """Why a message waits at the gate; the value is the reschedule reason the logs show."""

    SWEPT = "swept"  # the sweep covers its order: no request
    BUDGET = "budget"  # no token in its lane of the per-order budget


@dataclass(frozen=True)
class GateConfig:
    """What the gate needs from the settings."""

    sweep: SweepConfig
    give_up_after: float  # the supplier deadline, from the message's enqueue
    sweep_enabled: bool
    limit_per_minute: float  # the API key's limit, shared by the sweeper and the pollers
    burst: float
    sweep_share: float  # the configured share of the sweeper (also its ceiling)

    def split(self, sweep_share: float | None = None) -> BudgetSplit:
        """The key split for the sweeper's `sweep_share` (None: the configured one)."""
        share = self.sweep_share if sweep_share is None else sweep_share
        return BudgetSplit.of(self.limit_per_minute, self.burst, share)


@dataclass(frozen=True)
class Gate:
    """The gate's word: poll now, or wait `wait` seconds without a request for `reason`.
    `lane`: the lane the token came from or was refused in (None when the sweep covers it)."""

    poll: bool
    wait: float = 0.0
    reason: GateReason | None = None
    lane: Lane | None = None


@dataclass(frozen=True)
class AskToken:
    """Not covered: take a token from `budget`, in `lane`, before the request; `old_share`:
    the OLD lane's part of `budget` (more while the sweeper lends its share)."""

    budget: RateBudget
    lane: Lane
    old_share: float = OLD_SHARE


def fresh_coverage(coverage: Coverage | None, config: GateConfig, now: float) -> Coverage | None:
    """The coverage if a running sweep covers anything now, else None (as if no sweep ran)."""
    if not config.sweep_enabled or coverage is None:
        return None
    if coverage.horizon <= config.sweep.cover_margin:
        return None
    return coverage if coverage_is_fresh(coverage, config.sweep, now) else None


def per_order_budget(fresh: Coverage | None, config: GateConfig) -> RateBudget:
    """The whole key without a running sweep; else what the sweeper leaves the pollers."""
    if fresh is None:
        return config.split().whole
    return config.split(fresh.sweep_share).per_order


def at_gate(
    age: float, elapsed: float, now: float, coverage: Coverage | None, config: GateConfig
) -> Gate | AskToken:
    """`age`: seconds since the order was accepted; `elapsed`: since this message was sent;
    `coverage`: the sweeper's last heartbeat as read (or cached). A wait, or the token to ask."""
    give_up_after = config.give_up_after
    fresh = fresh_coverage(coverage, config, now)
    deferral = per_order_delay_when_swept(age, fresh, config.sweep, now)
    if deferral is not None and elapsed < give_up_after:
        # The deadline's last look is a poll: a covered message comes back for it.
        return Gate(False, min(deferral, max(1.0, give_up_after - elapsed)), GateReason.SWEPT)
    lane = lane_for(age, give_up_after)
    if unmetered(coverage, fresh, config, now):
        return Gate(True, lane=lane)
    if fresh is None or fresh.sweep_share is None:
        return AskToken(per_order_budget(fresh, config), lane)
    old_share = old_share_with_loan(config.sweep_share, fresh.sweep_share)
    return AskToken(per_order_budget(fresh, config), lane, old_share)


def unmetered(
    coverage: Coverage | None, fresh: Coverage | None, config: GateConfig, now: float
) -> bool:
    """Poll without a token: the sweeper granted it (relay.domain.poll_allowance) and no sweep
    is running, whose share of the key the pollers would have to leave it."""
    if not config.sweep_enabled or coverage is None or fresh is not None:
        return False
    return coverage.allowance.unmetered(now)


def after_refusal(token_wait: float, elapsed: float, lane: Lane, give_up_after: float) -> Gate:
    """No token: wait for one. Before the deadline never past it (the last look happens at the
    deadline); after it, however long the bucket says: the relay's own lack of budget never
    ends an order."""
    if elapsed >= give_up_after:
        return Gate(False, token_wait, GateReason.BUDGET, lane)
    return Gate(False, min(token_wait, max(1.0, give_up_after - elapsed)), GateReason.BUDGET, lane)


def wait_at_gate(
    gate: Gate, timing: Timing, give_up_after: float, spread: float, pace: float
) -> Reschedule:
    """The message's reschedule for a gate wait. `spread` in [0, 1) adds up to a second so the
    waiters of one batch do not come back together; `pace` (in [0, 1]) spreads a budget wait
    paced by the message's age (`after_wait`)."""
    if gate.reason is None or gate.poll:
        raise ValueError("only a wait at the gate is rescheduled")
    delay = gate.wait + spread
    why = gate.reason.value
    if gate.reason is GateReason.SWEPT:
        delay = max(1.0, clip_to_deadline(delay, timing.elapsed, give_up_after))
        return Reschedule(visibility_timeout(delay, timing.seconds_since_receive), why)
    return after_wait(timing, delay, why, pace)
