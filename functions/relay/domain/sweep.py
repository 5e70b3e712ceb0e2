"""The completion sweep: find many terminal orders per API request by listing them, not polling.

A per-order schedule spends several requests per order, so one 100 requests/minute key saturates
near 1,000 orders an hour. `GET /api/orders/?page=&limit=100` returns up to 100 orders, newest
first by `createdAt`, with the same body as `GET /api/orders/{id}` (codes included once
completed). A sweeper reads the first few pages every few seconds and hands every terminal order
it sees to the usual ledger claim -> webhook -> mark path. Per-order messages whose order the
sweep covers wait (no API call) and find the order delivered when they come back; orders the
sweep does not reach (older than its horizon, or listed late) keep the per-order schedule.

Everything here is pure: the sweeper Lambda does the I/O (list pages, ledger, webhook, the
coverage item in DynamoDB) and asks these functions what to do next. The sweep's settings and
the coverage heartbeat, which the per-order pollers read too, are in relay.domain.coverage: the
poller loads those, not this planning.

How deep and how often (decided with the bench, see docs/performance.md):
- The horizon is how old (by `createdAt`) an order can be and still be found by the sweep. The
  list is ordered by creation, not completion, so finding completions of orders up to H seconds
  old means reading every page that holds orders created in the last H seconds.
- The interval is the slowest of: the minimum interval; the interval at which the sweep costs
  `target_requests_per_order` per listed order (at low load a page holds more than the horizon,
  so sweeping faster would only re-read the same page); and the interval at which the sweeper's
  share of the rate budget pays for the pages. It never exceeds `max_interval`, or, when the
  budget is what binds, twice the lag target: past that the horizon shrinks instead (fewer
  pages), and the per-order schedule covers the older orders.

What is learned (relay.domain.completion_age, relay.domain.page_cadence): every page read is
evidence of how old orders are when they end. Once the estimate has `min_estimate_weight`
sightings it replaces the configured horizon (the age by which `horizon_quantile` of the orders
that end have ended, times `horizon_factor`, so the sweep keeps looking past what it has seen)
and the single rhythm: the young pages, where most orders end, are read every sweep, the older
ones a chunk per sweep, each at least every `max_page_gap`. When the key's budget cannot read
that depth so often, pages are read less often, step by step up to twice the lag target, for
the depth by which `horizon_quantile` of the orders had ended (or the configured horizon, if
deeper); the deeper look for a tail is what gives way first. The configured horizon and
intervals are where a sweeper without evidence starts. A budget-bound sweep also reads one
probe page past its depth every `probe_interval` (`_with_probe`): without it the estimate would
only know the ages the budget lets it reach, and a tail past them could never pull the depth
out (`within_reach` decides when that evidence counts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from relay.domain.completion_age import CompletionAges
from relay.domain.coverage import Coverage, SweepConfig
from relay.domain.events import TERMINAL_STATUSES
from relay.domain.page_cadence import Cadence, plan_cadence


@dataclass(frozen=True)
class ListedOrder:
    """What the sweep needs from one list entry (the adapter also keeps the parsed order)."""

    order_id: str
    status: str
    created_at: float  # `createdAt` as epoch seconds, on the same clock as `now`

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class SweepState:
    """What the sweeper remembers between sweeps (in memory; lost on a cold start, that's fine)."""

    seconds_per_page: float | None = None  # createdAt span of one full page, smoothed
    sweeps: int = 0
    chunk_first: int | None = None  # first page of the last older-tier chunk read (after_sweep)
    cadence: Cadence | None = None  # the learned cadence, kept until its chunk comes round
    probed_at: float | None = None  # when the last sweep with a probe page started


@dataclass(frozen=True)
class SweepPlan:
    interval: float  # start the next sweep this long after this one started
    max_pages: int  # read at most this many pages
    horizon: float  # stop once a page reaches orders created before now - horizon
    status_filter: str | None
    page_limit: int
    # After the young pages (1..max_pages), a learned cadence reads this chunk of older pages
    # (first, last inclusive; none when first > last): see relay.domain.page_cadence.
    chunk_first: int = 0
    chunk_last: int = -1
    # Older pages are read once per cycle of chunks: an order must still be within reach when
    # the chunk comes round, so the coverage published is that much shorter than the horizon.
    reach_allowance: float = 0.0
    cadence: Cadence | None = None  # the learned cadence this plan follows
    # The list requests a second this sweep wants, to read its horizon every half lag target
    # (inf: all it can get); the sweeper lends the per-order pollers the rest of its share.
    wanted_rate: float = math.inf
    # One page past the plan's depth, read after the others (0: none): evidence of how orders
    # end at ages the sweep does not reach. It covers nothing (a single page is no horizon).
    probe_page: int = 0

    def horizon_start(self, now: float) -> float:
        return now - self.horizon

    def wanted_share(self, configured_share: float, configured_rate: float) -> float:
        """The share of the key this plan wants (`wanted_rate` as a part of the configured
        share, whose rate is `configured_rate`); the sweeper lends the rest
        (relay.domain.fair_budget.lending_floor)."""
        if not configured_rate > 0 or math.isnan(self.wanted_rate):
            return configured_share
        return configured_share * min(1.0, self.wanted_rate / configured_rate)


_STRETCH_STEPS = 6  # how finely a budget-bound learned plan slows its rhythm


def learned_horizons(estimate: CompletionAges | None, config: SweepConfig) -> tuple[float, float]:
    """(needed, wanted): how old an order the sweep must read, and should read if the budget
    allows. Until the estimate has enough sightings both are the configured horizon. Then
    `needed` is the age by which `horizon_quantile` of the orders that ended (within the ages
    seen) had ended, plus the cover margin, and `wanted` reads `horizon_factor` times as deep,
    to see whether the tail goes on. If orders were still ending in the older half of the ages
    seen (twice the share the quantile leaves out), it does: then both are `horizon_factor`
    times the oldest age seen, and the sweep reads deeper until it finds the tail's end."""
    if estimate is None or estimate.weight() < config.min_estimate_weight:
        return config.max_horizon, config.max_horizon
    quantile = estimate.quantile(config.horizon_quantile, config.horizon_ceiling)
    edge = estimate.edge()
    if quantile is None or edge is None:
        return config.max_horizon, config.max_horizon
    edge = min(edge, config.horizon_ceiling)
    needed = quantile + config.cover_margin
    wanted = quantile * config.horizon_factor + config.cover_margin
    top, half = estimate.completed_by(edge), estimate.completed_by(edge / 2)
    still_ending = 2 * (1 - config.horizon_quantile)
    if top is not None and half is not None and top - half > still_ending * top:
        needed = wanted = max(wanted, edge * config.horizon_factor)

    def bounded(h: float) -> float:
        return min(config.horizon_ceiling, max(config.min_horizon, h))

    return bounded(needed), bounded(wanted)


def learned_horizon(estimate: CompletionAges | None, config: SweepConfig) -> float:
    """The deepest the sweep would read (`learned_horizons`' wanted)."""
    return learned_horizons(estimate, config)[1]


def plan_sweep(
    state: SweepState,
    config: SweepConfig,
    sweep_rate: float,
    now: float,
    estimate: CompletionAges | None = None,
) -> SweepPlan:
    """How deep to read now and when to sweep next, given the sweeper's tokens per second and
    what it has learned of completion ages (None, or too few sightings: the configured rhythm)."""
    if sweep_rate <= 0:
        raise ValueError("sweep_rate must be positive")
    spp = state.seconds_per_page
    learned = estimate is not None and estimate.weight() >= config.min_estimate_weight
    if learned and spp is not None and spp > 0 and math.isfinite(spp):
        assert estimate is not None
        return _learned_plan(state, config, sweep_rate, spp, estimate, now)
    affordable = max(1, math.floor(sweep_rate * config.max_interval + 1e-9))
    seconds_per_page = state.seconds_per_page
    if seconds_per_page is None or seconds_per_page <= 0 or not math.isfinite(seconds_per_page):
        # Nothing learned yet: read what the budget affords, stop at the horizon.
        return SweepPlan(
            config.min_interval,
            affordable,
            config.max_horizon,
            config.status_filter,
            config.page_limit,
        )
    pages_for_horizon = _pages_for(config.max_horizon, seconds_per_page)
    listed_per_second = config.page_limit / seconds_per_page
    interval_for_cost = pages_for_horizon / (listed_per_second * config.target_requests_per_order)
    interval_for_budget = pages_for_horizon / sweep_rate
    budget_ceiling = max(config.max_interval, 2 * config.lag_target)
    interval = max(
        config.min_interval,
        min(config.max_interval, interval_for_cost),
        min(budget_ceiling, interval_for_budget),
    )
    pages = max(1, min(pages_for_horizon, math.floor(sweep_rate * interval + 1e-9)))
    horizon = min(config.max_horizon, pages * seconds_per_page)
    return SweepPlan(
        interval,
        pages,
        horizon,
        config.status_filter,
        config.page_limit,
        wanted_rate=_wanted_rate(pages_for_horizon, config),
    )


def interval_at(arrivals_per_hour: float, config: SweepConfig, sweep_rate: float) -> float:
    """The configured plan's interval under a steady load (the page span it would learn): how
    often a sweep would run, for the cost of sweeping at that load."""
    if not math.isfinite(arrivals_per_hour) or arrivals_per_hour <= 0:
        return config.max_interval
    seconds_per_page = 3600.0 * config.page_limit / arrivals_per_hour
    state = SweepState(seconds_per_page=seconds_per_page)
    return plan_sweep(state, config, sweep_rate, now=0.0).interval


def _learned_plan(
    state: SweepState,
    config: SweepConfig,
    sweep_rate: float,
    spp: float,
    estimate: CompletionAges,
    now: float,
) -> SweepPlan:
    # At low load a page lists few new orders: spend at most `target_requests_per_order`, but
    # sweep at least every `max_interval` (the lag target holds at any load), as the
    # configured plan does.
    cost_rate = config.page_limit / spp * config.target_requests_per_order
    rate = min(sweep_rate, max(cost_rate, 1.0 / config.max_interval))
    kept = state.cadence
    if (
        kept is not None
        and kept.chunk
        and state.chunk_first is not None
        and state.chunk_first + kept.chunk <= kept.pages
        and kept.requests_per_second <= rate * (1 + 1e-9)
    ):
        # Mid-cycle: keep the cadence until its chunk has passed the deepest page, so every
        # older order is read once per cycle (the estimate moves on meanwhile).
        plan = _plan_for(kept, state, config, kept.pages * spp, _wanted_rate(kept.pages, config))
        return _with_probe(plan, state, config, spp, estimate, now) if rate >= sweep_rate else plan
    if rate < sweep_rate:
        # The cost target binds (a low load): every page read per sweep stretches the interval
        # of all of them. So each sweep reads the core depth whole, as the configured plan
        # reads its horizon: one tier (in two, the older pages' completions waited several
        # sweeps), without the cover margin (which would tip it over a page boundary). While
        # orders are still ending at the oldest ages seen, the needed depth reaches past the
        # core: about every `max_page_gap` a sweep reads that deep, which is how a tail past
        # the ages seen is found without doubling every interval (at 1,000/h, reading it on
        # every sweep cost the p99 lag 2-5 s; never reading it, an enterprise key at
        # 10,000/h left a long tail to per-order polls: p99 34 s instead of 20 s).
        needed = learned_horizons(estimate, config)[0]
        must = _pages_for(needed, spp)
        core = _core_pages(estimate, config, spp, must, margin=0.0)
        interval = min(config.max_interval, max(config.min_interval, core / rate))
        pages = _pages_for(needed - config.cover_margin, spp)
        if pages > core and state.sweeps % max(1, round(config.max_page_gap / interval)):
            pages = core
        horizon = min(config.horizon_ceiling, pages * spp)
        cadence = Cadence(interval, pages, pages)
        return _plan_for(cadence, state, config, horizon, _wanted_rate(core, config))
    # What the plan follows (a first learned plan follows sweeps that had no probe page); the
    # probe itself looks where the whole estimate has seen least.
    followed = (
        estimate
        if state.cadence is None
        else within_reach(estimate, state.cadence.pages * spp, config)
    )
    needed, horizon = learned_horizons(followed, config)
    must = _pages_for(needed, spp)
    wanted = _pages_for(horizon, spp)
    core = _core_pages(followed, config, spp, must, margin=config.cover_margin)
    masses = [followed.mass(k * spp, (k + 1) * spp) for k in range(wanted)]

    def cadence_within(max_interval: float, max_gap: float) -> Cadence:
        return plan_cadence(
            masses,
            rate,
            config.min_interval,
            max_interval,
            max_gap,
            spp,
            config.cadence_quantile,
            # An order the sweep leaves to per-order polls may wait for a token up to its
            # deadline.
            beyond_wait=config.horizon_ceiling,
            min_pages=must,
        )

    cadence = cadence_within(config.max_interval, config.max_page_gap)
    # As in the configured plan: when the budget cannot read the needed depth within the usual
    # rhythm, pages are read less often, step by step up to twice the lag target, before the
    # horizon gives way and leaves the orders beyond it to the pollers' small share; only as
    # much less often as it takes, since every step slows the young pages too.
    ceiling = max(config.max_interval, config.max_page_gap, 2 * config.lag_target)
    for step in range(1, _STRETCH_STEPS + 1):
        if cadence.pages >= core:
            break
        share = step / _STRETCH_STEPS
        gap = config.max_page_gap + (ceiling - config.max_page_gap) * share
        interval = config.max_interval + (ceiling - config.max_interval) * share
        cadence = cadence_within(min(interval, gap), gap)
    wanted_rate = _wanted_rate(must, config)
    plan = _plan_for(cadence, state, config, min(horizon, cadence.pages * spp), wanted_rate)
    return _with_probe(plan, state, config, spp, estimate, now)


def within_reach(estimate: CompletionAges, depth: float, config: SweepConfig) -> CompletionAges:
    """What a budget-bound plan follows: the evidence from the ages its own pages read (up to
    `depth`), the probe pages' evidence past it left out, unless that evidence shows orders
    still ending past `depth` (before the deadline) at more than twice the share the
    `horizon_quantile` leaves out. Then the whole estimate, and the depth grows towards them.

    Why not always the whole estimate: past the depth F is flat and thinly seen, so the probes'
    few sightings there moved the quantile and the page masses by more than the tail was worth;
    with them the plan read deeper and slower, and the p99 time-to-deliver rose 5-20 s at
    20,000-40,000/h on populations whose last 1-2 % the per-order polls handle well. Why not
    never: a tail that large past the depth is more than the pollers' small share can carry (at
    40,000/h, 3 % of a slow supplier's orders waited 5-14 minutes)."""
    share = estimate.share_ending_after(depth, config.horizon_ceiling)
    if share is not None and share > 2 * (1 - config.horizon_quantile):
        return estimate
    return estimate.censored_at(depth)


def _with_probe(
    plan: SweepPlan,
    state: SweepState,
    config: SweepConfig,
    spp: float,
    estimate: CompletionAges,
    now: float,
) -> SweepPlan:
    """A budget-bound plan reads one page past its depth every `probe_interval`, at the age up
    to the deadline the estimate has seen least. The estimate only learns ages the sweep
    reads, and the depth follows the estimate: when the budget holds the depth short of a
    tail, the orders past it are invisible to the estimate (the quantile is taken within the
    ages seen), so the depth would never grow and they would be left to per-order polls for
    good (at 40,000/h on one key, 3 % of a slow supplier's orders waited minutes). A page
    every 30 s is about 2 % of the sweeper's requests at 40,000/h."""
    if math.isinf(config.probe_interval) or (
        state.probed_at is not None and now - state.probed_at < config.probe_interval
    ):
        return plan  # inf: never
    depth = plan.max_pages if plan.cadence is None else plan.cadence.pages
    age = estimate.least_seen_age(depth * spp, config.horizon_ceiling)
    if age is None:
        return plan
    page = math.floor(age / spp) + 1
    return replace(plan, probe_page=page) if page > depth else plan


def _core_pages(
    estimate: CompletionAges, config: SweepConfig, spp: float, must: int, margin: float
) -> int:
    """The pages a budget-bound plan slows down for (never more than `must`): the depth by
    which `horizon_quantile` of the orders seen ending had ended, plus `margin`, or the
    configured horizon if that is deeper, but not the deeper reading that looks for a tail
    beyond the ages seen (`learned_horizons` while orders are still ending at the oldest ages):
    slowing every page for that reading cost more lag than the tail it found. A cost-bound
    plan reads this depth whole on every sweep, without the cover margin (which would tip it
    over a page boundary)."""
    quantile = estimate.quantile(config.horizon_quantile, config.horizon_ceiling)
    if quantile is None:
        return must
    core = max(quantile + margin, config.max_horizon)
    return min(must, _pages_for(min(config.horizon_ceiling, core), spp))


def _wanted_rate(pages: int, config: SweepConfig) -> float:
    """The list requests a second that read `pages` every half lag target: what a sweep needs
    for its lag to stay within the target (a sweep every T seconds has a p99 lag of about T,
    plus the list's own lag and the webhook). Above that, the sweeper lends its share: at
    40,000 orders/h a loan slowed the sweep for every order it finds, while at 5,000/h the sweep
    reads its horizon in seconds and the loan drains a storefront outage's backlog."""
    return pages / max(config.min_interval, config.lag_target / 2)


def _pages_for(seconds: float, seconds_per_page: float) -> int:
    """The pages that hold `seconds` of order creation, newest first (at least one)."""
    return max(1, math.ceil(seconds / seconds_per_page - 1e-9))


def _plan_for(
    cadence: Cadence,
    state: SweepState,
    config: SweepConfig,
    horizon: float,
    wanted_rate: float,
) -> SweepPlan:
    previous = state.chunk_first if state.cadence == cadence else None
    first, last = cadence.next_chunk(previous)
    return SweepPlan(
        interval=cadence.interval,
        max_pages=cadence.young,
        horizon=horizon,
        status_filter=config.status_filter,
        page_limit=config.page_limit,
        chunk_first=first,
        chunk_last=last,
        reach_allowance=(cadence.cycle - 1) * cadence.interval,
        cadence=cadence,
        wanted_rate=wanted_rate,
    )


def chunk_pages(plan: SweepPlan, last_young: Sequence[ListedOrder], now: float) -> range:
    """The older pages to read after the young ones: none if the list already ended, or if the
    young pages already reached the horizon (the page span changed since the plan)."""
    if len(last_young) < plan.page_limit:
        return range(0)
    if min(order.created_at for order in last_young) < plan.horizon_start(now):
        return range(0)
    return range(plan.chunk_first, plan.chunk_last + 1)


def next_page_needed(
    page: Sequence[ListedOrder], plan: SweepPlan, pages_read: int, now: float
) -> bool:
    """After reading `pages_read` pages, the last being `page`: read the next one?

    No when the page was short (the list ends there), when it already reached orders older than
    the horizon (everything newer has been seen), or when the plan's page count is spent.
    Pages shift while they are read (new orders push entries down, never up: statuses only move
    forward and orders are never removed), so the next page can repeat entries but not skip any.
    """
    if pages_read >= plan.max_pages or len(page) < plan.page_limit:
        return False
    oldest = min(order.created_at for order in page)
    return oldest >= plan.horizon_start(now)


def probe_after(plan: SweepPlan, last_page: Sequence[ListedOrder]) -> int | None:
    """The probe page to read once the plan's own pages are read (the last being `last_page`):
    None without one, or when the list ended before it."""
    if not plan.probe_page or len(last_page) < plan.page_limit:
        return None
    return plan.probe_page


def terminal_orders(page: Sequence[ListedOrder]) -> list[ListedOrder]:
    """The entries the sweeper hands to the ledger (others are still in flight at FoxReload)."""
    return [order for order in page if order.terminal]


def observe_first_page(
    state: SweepState, config: SweepConfig, first_page: Sequence[ListedOrder], now: float
) -> SweepState:
    """Learn how many seconds of order creation one page spans (it tracks the load)."""
    if not first_page:
        return replace(state, sweeps=state.sweeps + 1)
    oldest = min(order.created_at for order in first_page)
    if len(first_page) < config.page_limit:
        # The whole list fits on one page: a page spans at least this much.
        observed = max(1e-3, now - oldest) * config.page_limit / len(first_page)
    else:
        # From its newest order, not from now: when orders stop coming (a storefront's traffic
        # ends for the night) the list keeps its span per page, and `now - oldest` would count
        # the quiet time since the last order as page span, plan too few pages for the horizon
        # and leave the orders still in flight at its far end to the per-order pollers.
        observed = max(1e-3, max(order.created_at for order in first_page) - oldest)
    previous = state.seconds_per_page
    smoothed = (
        observed
        if previous is None
        else (1 - config.smoothing) * previous + config.smoothing * observed
    )
    return replace(state, seconds_per_page=smoothed, sweeps=state.sweeps + 1)


def coverage_after_sweep(
    plan: SweepPlan, started_at: float, last_page: Sequence[ListedOrder], finished: bool
) -> Coverage:
    """What the sweep really covered: the plan's horizon, or less if it ran out of pages.

    `finished` is False when the sweep was cut short (an API error, the Lambda running out of
    time): it then covers nothing, and per-order polls carry on as if there were no sweep.
    """
    if not finished:
        horizon = 0.0
    elif not last_page or len(last_page) < plan.page_limit:
        horizon = plan.horizon  # the list ended: every order, however old, was read
    else:
        oldest = min(order.created_at for order in last_page)
        horizon = min(plan.horizon, max(0.0, started_at - oldest))
    return Coverage(started_at, horizon, plan.interval)


def after_sweep(
    state: SweepState,
    plan: SweepPlan,
    started: float,
    last_page: Sequence[ListedOrder],
    finished: bool,
) -> tuple[SweepState, Coverage]:
    """The coverage to publish after a sweep, and the state that remembers where its chunk of
    older pages was (the next chunk moves on from there; a sweep cut short reads it again).

    Without a chunk this is `coverage_after_sweep`. With one, the last page read is somewhere in
    the older tier, so the coverage is the plan's horizon less its reach allowance. `last_page`
    is the last of the plan's own pages, not its probe page (`probe_after`), which covers
    nothing; a finished sweep with a probe in its plan counts as probed.
    """
    measured = coverage_after_sweep(plan, started, last_page, finished)
    if finished and plan.probe_page:
        state = replace(state, probed_at=started)
    if plan.chunk_first > plan.chunk_last:
        return replace(state, cadence=plan.cadence, chunk_first=None), measured
    if not finished:
        return state, measured
    horizon = max(0.0, plan.horizon - plan.reach_allowance)
    kept = replace(state, chunk_first=plan.chunk_first, cadence=plan.cadence)
    return kept, replace(measured, horizon=horizon)


def observe_page(
    estimate: CompletionAges,
    config: SweepConfig,
    page: Sequence[ListedOrder],
    now: float,
) -> CompletionAges:
    """Every listed order is a sighting of the completion-age distribution at its age."""
    return estimate.observe(((now - o.created_at, o.terminal) for o in page), now, config.decay)
