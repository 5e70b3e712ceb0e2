"""The completion sweeper: list FoxReload's newest orders every few seconds and deliver every
terminal one that is ours (accepted in the ledger, not yet delivered) through the same
exactly-once path as the per-order poller. It also publishes its coverage, so per-order pollers
skip the polls it makes unnecessary. One sweeper runs at a time (a lease in the ledger table).

Pure decisions (how deep, how often, what is covered) are relay.domain.sweep; the request budget
is relay.domain.rate_budget; this module only does the I/O in order.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace

from relay.domain.attempt_log import Actor
from relay.domain.completion_age import CompletionAges
from relay.domain.coverage import coverage_is_fresh
from relay.domain.events import for_status
from relay.domain.fair_budget import STARVED_MEMORY_SECONDS, lending_floor, next_sweep_share
from relay.domain.foxreload_order import FoxOrder, MalformedOrder
from relay.domain.order_message import canonical_order_id
from relay.domain.order_page import OrderPage, parse_order_page
from relay.domain.poll_allowance import Allowance, next_allowance
from relay.domain.poll_outcome import HttpReply, Kind, classify, for_order
from relay.domain.rate_budget import BucketState, back_off
from relay.domain.results import DeliveryOutcome
from relay.domain.schedule import policy_named
from relay.domain.sweep import (
    SweepPlan,
    SweepState,
    after_sweep,
    chunk_pages,
    learned_horizon,
    next_page_needed,
    observe_first_page,
    observe_page,
    plan_sweep,
    probe_after,
    terminal_orders,
)
from relay.domain.sweep_economics import HISTORY_SECONDS, MIN_SAMPLES, Strategy
from relay.domain.sweep_tick import Tick
from relay.names import Metric, api_error_metric
from relay.service.delivery import Delivery
from relay.service.deps import RelayDeps
from relay.service.poll_gate import PollGate, budget_split, sweep_config
from relay.service.sweep_strategy import Look, StrategyChooser

_CONCURRENT_DELIVERIES = 10
_REMEMBERED_DONE = 5000
_LEASE_RETRY_SECONDS = 2.0
# How often a running sweeper asks the ledger whether anything it could find is still in flight.
IN_FLIGHT_CHECK_SECONDS = 30.0
# How often a running sweeper saves its completion-age estimate (and once at the end of a run).
ESTIMATE_SAVE_SECONDS = 30.0


@dataclass
class SweepStats:
    sweeps: int = 0
    pages: int = 0
    delivered: int = 0
    outcomes: dict[DeliveryOutcome, int] = field(default_factory=dict)
    idle: bool = False  # the run ended early: nothing in flight, or per-order polling pays
    per_order: bool = False  # it ended because per-order polling is cheaper at this load
    chained: bool = False  # it sent the next sweep as a tick
    turn_taken: bool = False  # a chain holds the lease (or this tick's turn was taken): no sweep


class Sweeper:
    def __init__(self, deps: RelayDeps) -> None:
        self.deps = deps
        self.config = sweep_config(deps.settings)
        self.share = deps.settings.sweep_budget_share  # the ceiling, lent out under demand
        self.budget = budget_split(deps.settings).sweeper
        self.configured_rate = self.budget.rate  # at the configured share, before any loan
        self.wanted_share = math.nan  # the key's share the last plan wanted (nan: no plan yet)
        self.bucket: BucketState | None = None
        self.state = SweepState()
        self.estimate: CompletionAges | None = None  # loaded from the coordination item by run()
        self.estimate_saved_at: float | None = None
        self.done: dict[str, None] = {}  # orders known delivered (insertion-ordered, bounded)
        self.owner = deps.new_owner()
        self.delivery = Delivery(deps)
        now = lambda: deps.clock()  # noqa: E731, PLW0108 - late-bound: deps.clock may be swapped
        self.gate = PollGate(deps.settings, deps.coordination, clock=now)
        settings = deps.settings
        policy = deps.policy or policy_named(
            settings.poll_policy,
            settings.poll_base_seconds,
            settings.poll_cap_seconds,
            settings.poll_jitter,
        )
        self.chooser = StrategyChooser(settings, policy, self.config, self.budget.rate)
        self.strategy: Strategy | None = None  # this run's current choice, once looked
        self.handover_until: float | None = None  # per-order polling takes over at this time

    async def run(self, until: float, tick: Tick | None = None) -> SweepStats:
        """Sweep until `until` (epoch seconds), holding the single-sweeper lease. With a tick
        queue, sweep once and send the next sweep as a delayed tick (`tick`: the one that
        started this run; None for a scheduled run)."""
        if self.deps.ticks is not None:
            return await self._turn(until, tick)
        return await self._loop(until)

    def lease_seconds(self) -> float:
        """How long a lease outlives its sweep's start: three of the longest pauses, and time
        for the sweep itself."""
        longest = max(self.config.max_interval, 2 * self.config.lag_target)
        return longest * 3 + 30

    async def _turn(self, until: float, tick: Tick | None) -> SweepStats:
        """One sweep of a tick chain. A scheduled run starts a chain only when no chain holds
        the lease; a tick's run continues its chain only if its turn is still to be taken."""
        deps = self.deps
        assert deps.ticks is not None
        stats = SweepStats()
        started = deps.clock()
        lease_until = started + self.lease_seconds()
        if tick is None:
            owner, turn, checked_at = deps.new_owner(), 0, None
            held = await asyncio.to_thread(
                deps.coordination.hold_sweeper_lease, owner, started, lease_until
            )
        else:
            owner, turn, checked_at = tick.owner, tick.turn + 1, tick.looked_at
            self.handover_until = tick.handover_until
            held = await asyncio.to_thread(
                deps.coordination.take_turn, owner, tick.turn, lease_until
            )
        if not held:
            stats.turn_taken = True  # a chain is sweeping (or this tick was delivered twice)
            return stats
        await self._load_estimate()
        chained = False
        try:
            look, checked_at = await self._check(Look(True, None), checked_at, started)
            if self._stands_down(look, started, stats):
                return stats
            plan = await self._sweep_planned(started, stats, until)
            pause = max(0.0, started + plan.interval - deps.clock())
            next_tick = Tick(owner, turn, checked_at, self.handover_until)
            await asyncio.to_thread(deps.ticks.send, next_tick, pause)
            chained = stats.chained = True
        finally:
            if not chained:  # the chain ends here: the next scheduled run looks again
                await self._save_estimate(deps.clock(), force=True)
                await asyncio.to_thread(deps.coordination.release_sweeper_lease, owner)
        return stats

    async def _load_estimate(self) -> None:
        if self.estimate is None:
            stored = await asyncio.to_thread(self.deps.coordination.read_completion_estimate)
            self.estimate = stored if stored is not None else CompletionAges()
            self.estimate_saved_at = self.deps.clock()

    async def _loop(self, until: float) -> SweepStats:
        """Sweep until `until`, sleeping between sweeps (no tick queue)."""
        stats = SweepStats()
        deps = self.deps
        checked_at: float | None = None
        look = Look(True, None)
        await self._load_estimate()
        try:
            while deps.clock() < until:
                started = deps.clock()
                look, checked_at = await self._check(look, checked_at, started)
                if self._stands_down(look, started, stats):
                    break
                lease_until = started + self.lease_seconds()
                held = await asyncio.to_thread(
                    deps.coordination.hold_sweeper_lease, self.owner, started, lease_until
                )
                if not held:
                    # The previous scheduled run is finishing: take over when it lets go, so
                    # the sweep does not pause for a whole schedule period.
                    await asyncio.sleep(min(_LEASE_RETRY_SECONDS, max(0.0, until - deps.clock())))
                    continue
                plan = await self._sweep_planned(started, stats, until)
                pause = started + plan.interval - deps.clock()
                if deps.clock() + pause >= until:
                    break
                await asyncio.sleep(max(0.0, pause))
        finally:
            await self._save_estimate(deps.clock(), force=True)
            await asyncio.to_thread(deps.coordination.release_sweeper_lease, self.owner)
        return stats

    async def _check(
        self, look: Look, checked_at: float | None, now: float
    ) -> tuple[Look, float | None]:
        """The in-flight check, at most every IN_FLIGHT_CHECK_SECONDS (`checked_at`: the last
        one): look, start or stop a hand-over, publish the pollers' allowance. Returns the look
        in force and when it was made."""
        if checked_at is not None and now - checked_at < IN_FLIGHT_CHECK_SECONDS:
            return look, checked_at
        swept_before = self.strategy is Strategy.SWEEP
        look = await asyncio.to_thread(self.look, now)
        self._hand_over(look, swept_before, now)
        await asyncio.to_thread(self.publish_allowance, look, now)
        return look, now

    def _stands_down(self, look: Look, now: float, stats: SweepStats) -> bool:
        """Nothing a sweep could find, or per-order polling is cheaper at this load and has
        taken over: no listing, and the run ends early. The coverage goes stale, so the orders
        are polled per order with the whole key until a scheduled run finds sweeping worth it
        again."""
        handed_over = self.handover_until is not None and now >= self.handover_until
        if look.in_flight and not handed_over:
            return False
        self._log_no_sweep(look)
        stats.idle = True
        stats.per_order = look.in_flight
        return True

    async def _sweep_planned(
        self, started: float, stats: SweepStats, until: float | None
    ) -> SweepPlan:
        """One sweep as planned now (after adapting the sweeper's share); the plan it followed."""
        await asyncio.to_thread(self.adapt_share, started)
        plan = plan_sweep(self.state, self.config, self.budget.rate, started, self.estimate)
        configured_share = self.deps.settings.sweep_budget_share
        self.wanted_share = plan.wanted_share(configured_share, self.configured_rate)
        await self.sweep_once(plan, started, stats, until)
        await self._save_estimate(started, force=False)
        return plan

    async def _save_estimate(self, now: float, force: bool) -> None:
        """Keep the estimate for the next run (a new invocation, another sweeper after a
        handover) without a write per sweep. A failed write costs only some learning."""
        estimate = self.estimate
        if estimate is None or estimate.updated_at is None:
            return
        saved = self.estimate_saved_at
        if not force and saved is not None and now - saved < ESTIMATE_SAVE_SECONDS:
            return
        self.estimate_saved_at = now
        try:
            await asyncio.to_thread(self.deps.coordination.write_completion_estimate, estimate)
        except Exception as exc:  # the estimate is an optimisation; the sweep goes on
            self.deps.log.warning(
                "saving the completion-age estimate failed (%s)", type(exc).__name__
            )

    async def sweep_once(
        self, plan: SweepPlan, started: float, stats: SweepStats, until: float | None = None
    ) -> None:
        """Read pages per the plan; a sweep that reaches `until` stops early (covers nothing)."""
        deps = self.deps
        pages_read = 0
        number = 1
        chunk: list[int] | None = None  # the older pages still to read, once the young are done
        last: OrderPage | None = None
        finished = False
        while until is None or deps.clock() < until:
            page = await self._read_and_deliver(number, plan, stats, until, first=pages_read == 0)
            if page is None:
                break
            pages_read += 1
            last = page
            now = deps.clock()
            if chunk is None:
                if next_page_needed(page.listed, plan, pages_read, now):
                    number += 1
                    continue
                chunk = list(chunk_pages(plan, page.listed, now))
            elif len(page.listed) < plan.page_limit:
                chunk = []  # the list ends here
            if not chunk:
                finished = True
                break
            number = chunk.pop(0)
        probe = probe_after(plan, last.listed) if finished and last else None
        # evidence only: a probe page cut short takes nothing from the coverage
        if probe is not None and await self._read_and_deliver(probe, plan, stats, until, False):
            pages_read += 1
        self.state, coverage = after_sweep(
            self.state, plan, started, last.listed if last else (), finished
        )
        coverage = replace(coverage, sweep_share=self.share)
        if self.handover_until is not None:
            coverage = replace(coverage, horizon=0.0)  # handing over: covers nothing
        await asyncio.to_thread(deps.coordination.write_coverage, coverage)
        stats.sweeps += 1
        stats.pages += pages_read

    async def _read_and_deliver(
        self, number: int, plan: SweepPlan, stats: SweepStats, until: float | None, first: bool
    ) -> OrderPage | None:
        """Read one page (None: the API refused or time ran out), learn from it and deliver
        the terminal orders on it."""
        page = await self._read_page(number, plan, until)
        if page is None:
            return None
        now = self.deps.clock()
        if first:
            self.state = observe_first_page(self.state, self.config, page.listed, now)
        self.estimate = observe_page(
            self.estimate or CompletionAges(), self.config, page.listed, now
        )
        await self._deliver_terminal(page, stats, until)
        return page

    def look(self, now: float) -> Look:
        """Is anything the sweep could find unfinished, and is sweeping worth it at this load?"""
        accepted = self.deps.accepted_between
        if accepted is None or self.deps.settings.sweep_strategy != "auto":
            return Look(self.anything_in_flight(now), None)
        orders = accepted(now - self.chooser.window, now)
        reach = now - self.reach()
        in_flight = any(o.outcome is None and o.accepted_at > reach for o in orders)
        history = orders
        if in_flight and len(orders) < MIN_SAMPLES:
            history = accepted(now - HISTORY_SECONDS, now)
        if self.strategy is None:  # a new run: the last published coverage says what it was
            coverage = self.deps.coordination.read_coverage()
            fresh = coverage is not None and coverage_is_fresh(coverage, self.config, now)
            self.strategy = Strategy.SWEEP if fresh else Strategy.PER_ORDER
        choice = self.chooser.choose(
            orders, now, sweeping=self.strategy is Strategy.SWEEP, history=history
        )
        if in_flight:
            self.strategy = choice.strategy
        return Look(in_flight, choice)

    def _hand_over(self, look: Look, swept_before: bool, now: float) -> None:
        """Per-order polling takes over from a running sweep only after the messages the sweep
        sent to wait (up to max_defer) have come back: until then the sweeper goes on listing
        but publishes coverage of nothing, so no poller defers to it any more."""
        if look.sweep:
            self.handover_until = None
        elif look.in_flight and self.handover_until is None:
            self.handover_until = now + (self.config.max_defer if swept_before else 0.0)
            if swept_before:
                self.deps.log.info(
                    "handing over to per-order polling in %.0fs", self.config.max_defer
                )

    def publish_allowance(self, look: Look, now: float) -> None:
        """Grant, renew or end the pollers' allowance to poll without a token: granted only
        while no sweep runs (nor hands over) and per-order demand is far below the key."""
        choice = look.choice
        if choice is None:
            return  # always sweeping: the pollers keep to their share
        sweeping = look.sweep or (self.handover_until is not None and now < self.handover_until)
        coverage = self.deps.coordination.read_coverage()
        current = coverage.allowance if coverage is not None else Allowance()
        after = next_allowance(
            current,
            sweeping=sweeping,
            requests_per_hour=choice.per_order_requests_per_hour,
            requests_per_hour_limit=self.deps.settings.foxreload_rate_limit_per_minute * 60,
            now=now,
        )
        if not after.unmetered(now) and not current.unmetered(now):
            return  # nothing granted, nothing to end
        if self.deps.coordination.write_allowance(after, current) and after.unmetered(
            now
        ) != current.unmetered(now):
            self.deps.log.info(
                "per-order polls %s the shared bucket (forecast %.0f requests/h)",
                "skip" if after.unmetered(now) else "take tokens from",
                choice.per_order_requests_per_hour,
            )

    def _log_no_sweep(self, look: Look) -> None:
        choice = look.choice
        if not look.in_flight or choice is None:
            self.deps.log.info("nothing in flight within the sweep's reach; sweeper idle")
            return
        self.deps.log.info(
            "per-order polling instead of sweeping (%s): $%.4f/h against $%.4f/h for the sweep, "
            "forecast %.1f polls per order, p99 lag %.1fs",
            choice.reason,
            choice.per_order_cost_per_hour,
            choice.sweep_cost_per_hour,
            choice.forecast.polls_per_order,
            choice.forecast.lag_p99,
        )

    def reach(self) -> float:
        """How far back (by acceptance) the sweep can find an order."""
        return learned_horizon(self.estimate, self.config) + self.config.max_page_gap

    def anything_in_flight(self, now: float) -> bool:
        """Are orders the sweep could cover (accepted within its horizon) still unfinished?"""
        unfinished = self.deps.unfinished_between
        if unfinished is None:
            return True
        return unfinished(now - self.reach(), now) > 0

    def adapt_share(self, now: float) -> None:
        """Lend the per-order pollers the part of the sweeper's share its plan does not use while
        orders past the deadline (a redrive, an outage's backlog: beyond any sweep's reach) are
        refused tokens, and take it back once they are not."""
        ceiling = self.deps.settings.sweep_budget_share
        stored = self.deps.coordination.read_bucket().state
        starved = stored is not None and stored.backlog_starved_since(now - STARVED_MEMORY_SECONDS)
        floor = lending_floor(ceiling, self.wanted_share)
        share = next_sweep_share(self.share, starved, floor=floor, ceiling=ceiling)
        if share != self.share:
            self.share = share
            self.budget = budget_split(self.deps.settings, share).sweeper
            self.chooser.sweep_rate = self.budget.rate
            self.deps.log.info("sweeper's share of the key now %.0f%%", share * 100)

    async def _read_page(
        self, number: int, plan: SweepPlan, until: float | None
    ) -> OrderPage | None:
        """One page, paid for from the sweeper's share of the budget; None ends this sweep."""
        deps = self.deps
        if not await self._token(until):
            return None
        reply = await deps.foxreload.list_orders(
            number, plan.page_limit, plan.status_filter, until=until
        )
        deps.metrics.count(Metric.SWEEP_REQUESTS)
        deps.metrics.count(Metric.POLL_ATTEMPTS)
        if not isinstance(reply, HttpReply) or reply.status_code != 200:
            outcome = classify(reply, deps.clock())
            if outcome.long_back_off:
                deps.metrics.count(Metric.LONG_BACK_OFFS)
            if outcome.kind is Kind.THROTTLED:
                deps.metrics.count(Metric.THROTTLED)
                await self._back_off(outcome.retry_after)
            elif outcome.kind is Kind.AUTH_FAILED:
                deps.metrics.count(Metric.AUTH_FAILURES)
            else:
                deps.metrics.count(Metric.API_ERRORS)
                deps.metrics.count(api_error_metric(outcome.error_kind or "ServerError"))
            deps.log.warning(
                "order list page %d failed (%s); sweep cut short", number, outcome.status
            )
            return None
        try:
            return parse_order_page(reply.body, reply.headers.get("date"), deps.clock())
        except MalformedOrder:
            deps.metrics.count(Metric.API_ERRORS)
            deps.metrics.count(api_error_metric("Malformed"))
            deps.log.warning("order list page %d is malformed; sweep cut short", number)
            return None

    async def _deliver_terminal(
        self, page: OrderPage, stats: SweepStats, until: float | None = None
    ) -> None:
        listed_terminal = {o.order_id for o in terminal_orders(page.listed)}
        candidates = [
            replace(o, id=canonical_order_id(o.id))
            for o in page.orders
            if o.id in listed_terminal and canonical_order_id(o.id) not in self.done
        ]
        if not candidates:
            return
        records = await asyncio.to_thread(self.deps.ledger.batch_get, [o.id for o in candidates])
        gate = asyncio.Semaphore(_CONCURRENT_DELIVERIES)

        async def one(order: FoxOrder) -> None:
            record = records.get(order.id)
            if record is None:
                return  # not ours, or its message has not been received yet
            if record.outcome is not None:
                self._remember(order.id)
                return
            if record.rejected_before(record.last_message_at or 0.0):
                return  # the storefront refused it for good: its own message dead-letters it
            async with gate:
                try:
                    await self._deliver(
                        order, record.storefront_ref, record.accepted_at, stats, until
                    )
                except Exception as exc:  # one order's trouble must not end the page's sweep
                    self.deps.metrics.count(Metric.SWEEP_RECORD_ERRORS)
                    self.deps.log.warning(
                        "sweep: delivering one order failed (%s); its own message will retry",
                        type(exc).__name__,
                    )

        await asyncio.gather(*(one(order) for order in candidates))

    async def _deliver(
        self,
        order: FoxOrder,
        storefront_ref: str | None,
        accepted_at: float | None,
        stats: SweepStats,
        until: float | None = None,
    ) -> None:
        deps = self.deps
        breaker = await asyncio.to_thread(self.delivery.guard.state)
        if breaker.is_open and deps.clock() < breaker.next_probe_at:
            return  # the storefront is down: its own message parks it without a request
        if order.status == "completed" and order.code_count == 0:
            refreshed = await self._fetch_one(order.id, until)  # the list may omit codes
            if refreshed is None:
                return
            order = refreshed
        terminal = for_status(order.status)
        assert terminal is not None  # listed terminal, or re-read and found terminal
        event = terminal.event
        now = deps.clock()
        deps.metrics.count(Metric.SWEEP_FOUND)
        result = await self.delivery.deliver(
            order, event, storefront_ref, now, accepted_at or now, until, actor=Actor.SWEEPER
        )
        stats.outcomes[result.outcome] = stats.outcomes.get(result.outcome, 0) + 1
        if result.outcome in (
            DeliveryOutcome.DELIVERED,
            DeliveryOutcome.ALREADY_DONE,
            DeliveryOutcome.REJECTED,
        ):
            self._remember(order.id)
            stats.delivered += result.outcome is DeliveryOutcome.DELIVERED
        # BUSY / RETRY_LATER / NO_TIME / PARKED: the order's own message decides

    async def _fetch_one(self, order_id: str, until: float | None = None) -> FoxOrder | None:
        """Re-read one order for its codes: delivered only if FoxReload answered about the
        order asked for (under the id asked for), as the per-order poller does."""
        if not await self._token(until):
            return None
        reply = await self.deps.foxreload.get_order(order_id, until=until)
        self.deps.metrics.count(Metric.POLL_ATTEMPTS)
        outcome = for_order(classify(reply, self.deps.clock()), order_id)
        if outcome.status == "wrong_order":
            self.deps.metrics.count(Metric.API_ERRORS)
            self.deps.metrics.count(api_error_metric("Malformed"))
        return outcome.order if outcome.terminal else None

    async def _token(self, until: float | None = None) -> bool:
        """A token from the sweeper's share; False if none comes before `until`."""
        while True:
            now = self.deps.clock()
            grant = self.budget.take(self.bucket or self.budget.full(now), now)
            self.bucket = grant.state
            if grant.granted:
                return True
            if until is not None and now + grant.wait >= until:
                return False
            await asyncio.sleep(grant.wait)

    async def _back_off(self, retry_after: float | None) -> None:
        """A 429: this sweeper waits, and so does every per-order poller (the shared bucket)."""
        now = self.deps.clock()
        self.bucket = back_off(
            self.budget, self.bucket or self.budget.full(now), retry_after or 1.0, now
        )
        await asyncio.to_thread(self.gate.throttled, retry_after, now)

    def _remember(self, order_id: str) -> None:
        self.done[order_id] = None
        while len(self.done) > _REMEMBERED_DONE:
            self.done.pop(next(iter(self.done)))
