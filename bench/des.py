"""A discrete-event simulation of the relay against FoxReload, driving the relay's real code.

What is real (imported, not re-implemented): the schedule policies and `decide()` (every poll's
outcome becomes a Deliver / Reschedule / DeadLetter exactly as in the poller), `visibility_timeout`
and `clip_to_deadline` (SQS whole-second visibility), the sweep planner and page rule
(`relay.domain.sweep`), the rate-budget arithmetic (`relay.domain.rate_budget`), and the API's
limiter (`simulator.ratelimit.SlidingWindowLimiter`, the one the FoxReload simulator serves with).

What is modelled: the population (bench/population.py), SQS/ESM pickup latency, API and webhook
latency, list-index lag, the ledger (an in-memory claim: a terminal order is delivered once,
whoever finds it first), and AWS request counts for the cost table. One seeded RNG stream draws
the population (identical for every mode) and another the schedule jitter, so runs replay.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.population import PopulationModel
from relay.domain.decision import Deliver, Limits, Reschedule, Timing, after_wait, decide
from relay.domain.events import TerminalStatus, for_status
from relay.domain.poll_outcome import Kind, PollOutcome
from relay.domain.rate_budget import (
    BucketState,
    BudgetSplit,
    RateBudget,
    budget_within_limit,
)
from relay.domain.schedule import Policy, clip_to_deadline, visibility_timeout
from relay.domain.sweep import (
    Coverage,
    ListedOrder,
    SweepConfig,
    SweepPlan,
    SweepState,
    coverage_after_sweep,
    coverage_is_fresh,
    next_page_needed,
    observe_first_page,
    per_order_delay_when_swept,
    plan_sweep,
    terminal_orders,
)
from simulator.ratelimit import SlidingWindowLimiter

PENDING = PollOutcome(Kind.PENDING, status="processing")
KEY = "relay"


@dataclass(frozen=True)
class Environment:
    limit_per_minute: int = 100  # FoxReload's documented standard tier
    esm_pickup_min: float = 0.05  # visible -> in a handler (ESM long polling)
    esm_pickup_max: float = 0.5
    api_latency: float = 0.12  # one FoxReload round trip
    webhook_latency: float = 0.15
    list_lag: float = 2.0  # a completion shows in the list endpoint this much later (assumed)
    give_up_after: float = 900.0
    not_found_grace: float = 60.0
    auth_failure_delay: float = 120.0
    budget_burst: float = 10.0  # the relay's own bucket: burst + rate x 60 s <= the limit
    sweep_concurrency: int = 10  # webhooks the sweeper sends at once


@dataclass(frozen=True)
class Mode:
    name: str
    policy: Policy
    sweep: SweepConfig | None = None  # a sweeper runs, per-order polls defer to it
    budget: bool = False  # per-order polls take a token first (always on with a sweep)
    sweep_share: float = 0.85


@dataclass(frozen=True)
class RunSpec:
    arrivals_per_hour: float
    warmup: float  # seconds of arrivals before the measurement window
    measure: float  # seconds of the measurement window (arrivals stop at its end)
    seed: int = 20261127


@dataclass
class Counters:
    api_requests: int = 0
    api_429: int = 0
    list_requests: int = 0
    budget_deferrals: int = 0  # per-order receives that skipped their poll for lack of tokens
    receives: int = 0
    change_visibility: int = 0
    deletes: int = 0
    dlq_sends: int = 0
    ledger_reads: int = 0  # GetItem / BatchGetItem items
    ledger_writes: int = 0  # accepted, claim, mark, terminal
    budget_writes: int = 0  # token takes on the shared per-order bucket (conditional puts)
    coverage_reads: int = 0  # per-order receives reading the sweeper's coverage item
    webhooks: int = 0
    sweep_webhooks: int = 0
    sweeps: int = 0
    sweep_pages: int = 0
    sweeper_seconds: float = 0.0  # wall time of sweeps (pages + webhooks), for Lambda GB-s


@dataclass(slots=True)
class Order:
    idx: int
    created: float
    enq: float
    term_at: float
    final: str | None
    receives: int = 0
    registered: bool = False
    state: int = 0  # 0 open, 1 delivered/notified, 2 dead-lettered
    detected_at: float = math.nan
    delivered_at: float = math.nan
    via_sweep: bool = False


@dataclass
class SweepRun:
    started: float
    plan: SweepPlan
    pages_read: int = 0


@dataclass
class Result:
    mode: str
    arrivals_per_hour: float
    measured_orders: int
    window: Counters
    total: Counters
    detection_lags: list[float]
    deliver_lags: list[float]
    delivered: int
    notified: int
    dead_lettered: int
    completed_dead_lettered: int
    lost: int
    claims_refused: int
    window_deliveries: int
    window_seconds: float
    backlog_samples: list[tuple[float, int]] = field(default_factory=list)
    sweep_pages_per_sweep: float = 0.0
    sweep_interval_mean: float = 0.0
    sweep_horizon_mean: float = 0.0
    sweep_period_mean: float = 0.0


class Simulation:
    """One mode at one arrival rate. `run()` returns a Result."""

    def __init__(
        self, mode: Mode, population: PopulationModel, env: Environment, spec: RunSpec
    ) -> None:
        self.mode, self.pop, self.env, self.spec = mode, population, env, spec
        self.pop_rng = random.Random(spec.seed)
        self.arrival_rng = random.Random(spec.seed + 1)
        self.rng = random.Random(spec.seed + 2)
        self.limiter = SlidingWindowLimiter(env.limit_per_minute, 60.0)
        self.limits = Limits(env.give_up_after, env.not_found_grace, env.auth_failure_delay)
        self.events: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.orders: list[Order] = []
        self.open: set[int] = set()
        self.window_start = spec.warmup
        self.window_end = spec.warmup + spec.measure
        self.total = Counters()
        self.window = Counters()
        self.claims_refused = 0
        self.window_deliveries = 0
        self.backlog: list[tuple[float, int]] = []
        # sweep and budget
        self.sweep_cfg = mode.sweep
        self.sweep_state = SweepState()
        self.coverage: Coverage | None = None
        self.known: set[int] = set()
        self.plans: list[SweepPlan] = []
        self.sweep_starts: list[float] = []
        self.sweep_budget: RateBudget | None = None
        self.order_budget: RateBudget | None = None
        self.split: BudgetSplit | None = None
        if mode.sweep is not None:
            self.split = BudgetSplit.of(env.limit_per_minute, env.budget_burst, mode.sweep_share)
            self.sweep_budget, self.order_budget = self.split.sweeper, self.split.whole
        elif mode.budget:
            self.order_budget = budget_within_limit(env.limit_per_minute, env.budget_burst)
        self.sweep_bucket = self.sweep_budget.full(0.0) if self.sweep_budget else None
        self.order_bucket: BucketState | None = (
            self.order_budget.full(0.0) if self.order_budget else None
        )

    # -- event plumbing -------------------------------------------------------------------
    def at(self, when: float, kind: int, payload: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, payload))

    def counters(self, now: float) -> Iterator[Counters]:
        yield self.total
        if self.window_start <= now < self.window_end:
            yield self.window

    def count(self, now: float, name: str, amount: float = 1) -> None:
        for c in self.counters(now):
            setattr(c, name, getattr(c, name) + amount)

    # -- the run --------------------------------------------------------------------------
    def run(self) -> Result:
        self.at(self.next_arrival_gap(), 0)
        self.at(60.0, 4)
        if self.sweep_cfg is not None:
            self.at(0.0, 2)
        handlers = (
            self.on_arrival,
            self.on_receive,
            self.on_sweep_start,
            self.on_sweep_page,
            self.on_sample,
        )
        hard_stop = self.window_end + self.env.give_up_after + 600.0
        while self.events:
            now, _, kind, payload = heapq.heappop(self.events)
            if now > hard_stop:
                break
            if now >= self.window_end and not self.open and kind != 0:
                break
            handlers[kind](now, payload)
        return self.result()

    def next_arrival_gap(self) -> float:
        return self.arrival_rng.expovariate(self.spec.arrivals_per_hour / 3600.0)

    def on_arrival(self, now: float, _: object) -> None:
        if now >= self.window_end:
            return
        term_after, final = self.pop.draw(self.pop_rng)
        order = Order(
            len(self.orders), now - self.pop.create_to_enqueue, now, now + term_after, final
        )
        self.orders.append(order)
        self.open.add(order.idx)
        self.at(now + self.pickup(), 1, order)
        self.at(now + self.next_arrival_gap(), 0)

    def pickup(self) -> float:
        return self.rng.uniform(self.env.esm_pickup_min, self.env.esm_pickup_max)

    def on_sample(self, now: float, _: object) -> None:
        waiting = sum(1 for i in self.open if self.orders[i].term_at <= now)
        self.backlog.append((now, waiting))
        self.at(now + 60.0, 4)

    # -- FoxReload ------------------------------------------------------------------------
    def api(self, now: float) -> float | None:
        """One request. None when served; the Retry-After seconds when refused (429)."""
        self.count(now, "api_requests")
        decision = self.limiter.check(KEY, now)
        if decision.allowed:
            return None
        self.count(now, "api_429")
        return float(max(1, math.ceil(decision.retry_after - 1e-9)))

    def outcome_of(self, order: Order, now: float) -> PollOutcome:
        if order.final is not None and now >= order.term_at:
            terminal = for_status(order.final)
            assert terminal is not None  # the population ends orders in terminal statuses only
            return PollOutcome(terminal.kind, status=order.final)
        return PENDING

    # -- delivery (the ledger claim makes it exactly-once) ---------------------------------
    def deliver(self, order: Order, now: float, via_sweep: bool, extra: float = 0.0) -> None:
        if order.state != 0:
            self.claims_refused += 1  # the ledger claim fails: someone delivered it already
            return
        order.state = 1
        order.detected_at = now
        order.delivered_at = now + self.env.api_latency + self.env.webhook_latency + extra
        order.via_sweep = via_sweep
        self.open.discard(order.idx)
        self.count(now, "ledger_writes", 2)  # claim + mark
        self.count(now, "webhooks")
        if via_sweep:
            self.count(now, "sweep_webhooks")
        in_window = self.window_start <= order.delivered_at < self.window_end
        if order.final == TerminalStatus.COMPLETED and in_window:
            self.window_deliveries += 1

    def dead_letter(self, order: Order, now: float) -> None:
        order.state = 2
        self.open.discard(order.idx)
        self.count(now, "dlq_sends")
        self.count(now, "deletes")

    def reschedule(self, order: Order, now: float, delay: float) -> None:
        self.count(now, "change_visibility")
        self.at(now + delay + self.pickup(), 1, order)

    # -- the per-order poller -------------------------------------------------------------
    def on_receive(self, now: float, order: Order) -> None:
        order.receives += 1
        self.count(now, "receives")
        elapsed = now - order.enq
        timing = Timing(order.receives - 1, elapsed, self.env.api_latency)
        if self.sweep_cfg is not None:
            self.count(now, "coverage_reads")  # the sweeper's heartbeat (cacheable)
            if self.covered_skip(order, now, elapsed):
                return
        elif order.receives == 1:
            self.count(now, "ledger_writes")  # the `accepted` record, as in every mode
        if self.order_budget is not None and self.order_bucket is not None:
            budget = self.order_budget
            if self.split is not None and self.sweep_cfg is not None:
                running = self.coverage is not None and coverage_is_fresh(
                    self.coverage, self.sweep_cfg, now
                )
                budget = self.split.for_per_order(running)
            grant = budget.take(self.order_bucket, now)
            self.order_bucket = grant.state
            self.count(now, "budget_writes")
            if not grant.granted:
                self.count(now, "budget_deferrals")
                # As PollGate and OrderRelay: a refused token never dead-letters; the
                # message waits for the token (until the deadline's last look, before it),
                # paced by its age.
                wait = grant.wait
                if elapsed < self.env.give_up_after:
                    wait = min(wait, max(1.0, self.env.give_up_after - elapsed))
                self.act(order, now, after_wait(timing, wait + self.rng.random(), "budget"))
                return
        retry_after = self.api(now)
        if retry_after is None:
            outcome = self.outcome_of(order, now)
        else:
            outcome = PollOutcome(Kind.THROTTLED, status="429", retry_after=retry_after)
        self.act(
            order, now, decide(outcome, timing, self.limits, self.mode.policy, self.rng.random())
        )

    def covered_skip(self, order: Order, now: float, elapsed: float) -> bool:
        """The sweep-enabled handler's first steps. True when the receive ends here."""
        assert self.sweep_cfg is not None
        if not order.registered:
            order.registered = True
            self.count(now, "ledger_writes")  # the `accepted` record
        else:
            self.count(now, "ledger_reads")  # is it delivered already?
            if order.state != 0:
                self.count(now, "deletes")
                return True
        if elapsed >= self.env.give_up_after:
            return False  # the deadline's last look polls (or dead-letters) as usual
        wait = per_order_delay_when_swept(now - order.created, self.coverage, self.sweep_cfg, now)
        if wait is None:
            return False
        delay = clip_to_deadline(wait, elapsed, self.env.give_up_after)
        self.reschedule(order, now, visibility_timeout(delay, self.env.api_latency))
        return True

    def act(self, order: Order, now: float, action: object) -> None:
        if isinstance(action, Deliver):
            self.deliver(order, now, via_sweep=False)
            self.count(now, "deletes")
        elif isinstance(action, Reschedule):
            self.reschedule(order, now, action.delay)
        else:
            self.dead_letter(order, now)

    # -- the sweeper ----------------------------------------------------------------------
    def on_sweep_start(self, now: float, _: object) -> None:
        assert self.sweep_cfg is not None and self.sweep_budget is not None
        plan = plan_sweep(self.sweep_state, self.sweep_cfg, self.sweep_budget.rate, now)
        if self.window_start <= now < self.window_end:
            self.plans.append(plan)
            self.sweep_starts.append(now)
        self.count(now, "sweeps")
        self.at(now, 3, SweepRun(now, plan))

    def on_sweep_page(self, now: float, run: SweepRun) -> None:
        assert self.sweep_cfg is not None and self.sweep_budget is not None
        assert self.sweep_bucket is not None
        grant = self.sweep_budget.take(self.sweep_bucket, now)
        self.sweep_bucket = grant.state
        if not grant.granted:
            self.at(now + grant.wait + 1e-6, 3, run)
            return
        self.count(now, "list_requests")
        self.count(now, "sweep_pages")
        retry_after = self.api(now)
        if retry_after is not None:  # not expected: the budget stays within the limit
            self.coverage = coverage_after_sweep(run.plan, run.started, [], finished=False)
            self.at(now + retry_after, 2)
            return
        run.pages_read += 1
        page = self.list_page(now, run.pages_read, run.plan)
        if run.pages_read == 1:
            self.sweep_state = observe_first_page(self.sweep_state, self.sweep_cfg, page, now)
        found: list[Order] = []
        for listed in terminal_orders(page):
            idx = int(listed.order_id)
            if idx in self.known:
                continue
            self.count(now, "ledger_reads")
            order = self.orders[idx]
            if not order.registered:
                continue  # not accepted by the relay yet (or not ours): look again next sweep
            self.known.add(idx)
            if order.state == 0:
                found.append(order)
        # The sweeper delivers a page's finds concurrently, `sweep_concurrency` at a time.
        width = self.env.sweep_concurrency
        for j, order in enumerate(found):
            self.deliver(order, now, via_sweep=True, extra=(j // width) * self.env.webhook_latency)
        spent = self.env.api_latency + math.ceil(len(found) / width) * self.env.webhook_latency
        self.count(now, "sweeper_seconds", spent)
        if next_page_needed(page, run.plan, run.pages_read, now):
            self.at(now + spent, 3, run)
            return
        self.coverage = coverage_after_sweep(run.plan, run.started, page, finished=True)
        self.at(max(run.started + run.plan.interval, now + spent), 2)

    def list_page(self, now: float, page: int, plan: SweepPlan) -> list[ListedOrder]:
        """GET /api/orders/?status=&page=&limit=: newest first by createdAt, statuses as of now."""
        visible_at = now - self.env.list_lag
        out: list[ListedOrder] = []
        skip = (page - 1) * plan.page_limit
        for i in range(len(self.orders) - 1, -1, -1):
            order = self.orders[i]
            if order.created > now:
                continue
            status = (
                order.final
                if order.final is not None and order.term_at <= visible_at
                else "processing"
            )
            if plan.status_filter is not None and status != plan.status_filter:
                continue
            if skip:
                skip -= 1
                continue
            out.append(ListedOrder(str(i), status, order.created))
            if len(out) == plan.page_limit:
                break
        return out

    # -- results --------------------------------------------------------------------------
    def result(self) -> Result:
        measured = [o for o in self.orders if self.window_start <= o.enq < self.window_end]
        det: list[float] = []
        ttd: list[float] = []
        delivered = notified = dead = completed_dead = lost = 0
        for o in measured:
            if o.state == 1:
                if o.final == TerminalStatus.COMPLETED:
                    delivered += 1
                    det.append(o.detected_at - o.term_at)
                    ttd.append(o.delivered_at - o.term_at)
                else:
                    notified += 1
            elif o.state == 2:
                dead += 1
                in_time = o.term_at < o.enq + self.env.give_up_after
                if o.final == TerminalStatus.COMPLETED and in_time:
                    completed_dead += 1
                    det.append(math.inf)
                    ttd.append(math.inf)
            else:
                lost += 1
        plans = self.plans or [SweepPlan(0.0, 0, 0.0, None, 100)]
        starts = self.sweep_starts
        period = (starts[-1] - starts[0]) / (len(starts) - 1) if len(starts) > 1 else 0.0
        return Result(
            mode=self.mode.name,
            arrivals_per_hour=self.spec.arrivals_per_hour,
            measured_orders=len(measured),
            window=self.window,
            total=self.total,
            detection_lags=det,
            deliver_lags=ttd,
            delivered=delivered,
            notified=notified,
            dead_lettered=dead,
            completed_dead_lettered=completed_dead,
            lost=lost,
            claims_refused=self.claims_refused,
            window_deliveries=self.window_deliveries,
            window_seconds=self.spec.measure,
            backlog_samples=[
                s for s in self.backlog if self.window_start <= s[0] <= self.window_end
            ],
            sweep_pages_per_sweep=self.total.sweep_pages / max(1, self.total.sweeps),
            sweep_interval_mean=statistics.fmean(p.interval for p in plans),
            sweep_horizon_mean=statistics.fmean(p.horizon for p in plans),
            sweep_period_mean=period,
        )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); inf entries (never delivered) count as largest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def simulate(mode: Mode, population: PopulationModel, env: Environment, spec: RunSpec) -> Result:
    return Simulation(mode, population, env, spec).run()
