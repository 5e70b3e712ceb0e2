"""What the per-order pollers need of the completion sweep (relay.domain.sweep): its settings and
the coverage heartbeat the sweeper publishes, and whether that heartbeat lets a message wait
instead of polling. Apart from the sweeper's planning, which the poller never loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from relay.domain.completion_age import Decay
from relay.domain.poll_allowance import Allowance

MAX_PAGE_LIMIT: Final = 100


@dataclass(frozen=True)
class SweepConfig:
    """The sweep's settings: where a sweeper without evidence starts, and its bounds."""

    page_limit: int = MAX_PAGE_LIMIT
    max_horizon: float = 300.0  # the horizon until the completion-age estimate says otherwise
    min_interval: float = 2.0
    # At a low load: how long a sweep may wait to list more per page. Each sweep is a run of its
    # own, billed per run; the p99 lag of a sweep every T seconds is about T, within the lag
    # target below.
    max_interval: float = 24.0
    # When the key's budget cannot read the whole horizon within `max_interval`, the interval
    # stretches rather than the horizon shrinking: an order left beyond the horizon waits for a
    # per-order token from the pollers' small share, minutes under such a load, where a slower
    # sweep costs seconds. Up to twice the lag target (the p99 lag of a sweep every T seconds
    # is about T); past that the horizon gives way.
    lag_target: float = 30.0
    # Sweep requests per listed order, at most: at a low load a sweep lists few new orders, and
    # each sweep is a run of its own (its tick, lease turn and coverage besides the request),
    # so it waits until a page holds about one new order per request.
    target_requests_per_order: float = 1.0
    status_filter: str | None = None  # None: one unfiltered list finds all three terminal kinds
    cover_margin: float = 15.0  # per-order polls resume this long before the horizon runs out
    max_defer: float = 120.0  # a covered message still comes back at least this often
    stale_after_intervals: float = 3.0  # coverage lapses after this many missed sweeps...
    stale_grace: float = 20.0  # ...plus this many seconds
    smoothing: float = 0.3  # EWMA weight of the newest page-span observation
    # What the completion-age estimate decides once it has `min_estimate_weight` sightings:
    horizon_quantile: float = 0.99  # the sweep reaches the age by which this share has ended...
    horizon_factor: float = 1.5  # ...times this, to see whether the tail goes on past it
    min_horizon: float = 60.0
    horizon_ceiling: float = 900.0  # the per-order deadline: no point reading older orders
    max_page_gap: float = 30.0  # every page within the horizon is read at least this often
    # A budget-bound sweep reads one page past its depth this often, at the age the estimate has
    # seen least: without it the estimate only knows ages the sweep reaches, and a tail past
    # them (orders left to per-order polls) could never pull the depth out (relay.domain.sweep).
    probe_interval: float = 30.0
    # The cadence reads this share of completions at the fastest rhythm it can afford; older
    # pages are read more slowly only if the budget cannot read them all that fast.
    cadence_quantile: float = 0.999
    # Sightings before the estimate replaces the configured plan (inf: never, the configured
    # plan only). About two sweeps' pages at a high load, minutes of sweeps at a low one.
    min_estimate_weight: float = 200.0
    decay: Decay = field(default_factory=Decay)

    def __post_init__(self) -> None:
        if not 1 <= self.page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be within 1..{MAX_PAGE_LIMIT}")
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if self.max_horizon <= 0 or self.target_requests_per_order <= 0:
            raise ValueError("max_horizon and target_requests_per_order must be positive")
        if not 0 < self.smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        if not 0 < self.min_horizon <= self.horizon_ceiling:
            raise ValueError("need 0 < min_horizon <= horizon_ceiling")
        if not 0 < self.horizon_quantile <= 1 or self.horizon_factor < 1:
            raise ValueError("need horizon_quantile in (0, 1] and horizon_factor >= 1")
        if self.max_page_gap < self.max_interval:
            raise ValueError("max_page_gap must be at least max_interval")
        if not self.probe_interval > 0:
            raise ValueError("probe_interval must be positive")


@dataclass(frozen=True)
class Coverage:
    """The sweeper's heartbeat, published after each sweep (one DynamoDB item).

    Per-order pollers read it (cached for a few seconds) to decide whether to skip their poll.
    """

    swept_at: float  # when the sweep that published this started
    horizon: float  # orders created within this many seconds before swept_at were all read
    interval: float  # the planned time to the next sweep
    sweep_share: float | None = None  # the sweeper's part of the key now (None: as configured)
    # Per-order polls without a token while no sweep runs and demand is low (kept on the same
    # item, so a poller's one cached read answers both).
    allowance: Allowance = field(default_factory=Allowance)


CLOCK_SKEW_TOLERANCE: Final = 5.0  # seconds a sweeper's clock may run ahead of a poller's


def coverage_is_fresh(coverage: Coverage, config: SweepConfig, now: float) -> bool:
    """Fresh while the sweeper kept its rhythm. A heartbeat slightly in the future is fresh too:
    the sweeper and the pollers run on different hosts, whose clocks differ by milliseconds."""
    limit = config.stale_after_intervals * coverage.interval + config.stale_grace
    return -CLOCK_SKEW_TOLERANCE <= now - coverage.swept_at <= limit


def per_order_delay_when_swept(
    age: float, coverage: Coverage | None, config: SweepConfig, now: float
) -> float | None:
    """A per-order message's wait when the sweep covers its order, or None to poll now.

    `age` is seconds since the order's creation (the message's enqueue time is a close, later
    stand-in). The order stays covered while it is younger than the sweep's horizon minus
    `cover_margin` (list lag, the sweep's own duration, createdAt vs enqueue). The wait is capped
    by `max_defer` so that a sweeper that stops is noticed within that time; coverage that is not
    fresh (no sweep for several intervals) is no coverage.
    """
    if coverage is None or not coverage_is_fresh(coverage, config, now):
        return None
    covered_until = coverage.horizon - config.cover_margin
    if age >= covered_until:
        return None
    return max(1.0, min(config.max_defer, covered_until - age))
