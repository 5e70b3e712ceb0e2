"""A discrete-event simulation of the relay against FoxReload, driving the relay's real code.

What is real (imported, not re-implemented): the schedule policies and `decide()` (every poll's
outcome becomes a Deliver / Reschedule / DeadLetter exactly as in the poller), the per-order gate
(`relay.domain.gate_decision`: the sweep's cover, the budget and lane a token comes from, what a
refused token means, the reschedule of a wait; sequenced as `PollGate.check` sequences it), the
sweep planner and page rule (`relay.domain.sweep`), the rate-budget arithmetic
(`relay.domain.rate_budget`, `relay.domain.fair_budget`), and the API's limiter
(`simulator.ratelimit.SlidingWindowLimiter`, the one the FoxReload simulator serves with).

Stress scenarios (`Stress`) add a storefront outage (webhooks refused), an overload and a mass
redrive; the storefront circuit breaker (`relay.domain.storefront_breaker`: admit, after_delivery,
park_delay), the webhook retry (`after_webhook_retry`) and the waits (`after_wait`) are the
relay's own functions, sequenced as `OrderRelay.process` and `Delivery.deliver` sequence them.

What is modelled: the population (bench/population.py), SQS/ESM pickup latency, API and webhook
latency, list-index lag, the ledger (an in-memory claim: a terminal order is delivered once,
whoever finds it first), and AWS request counts for the cost table. One seeded RNG stream draws
the population (identical for every mode) and another the schedule jitter, so runs replay.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import statistics
from dataclasses import dataclass, field, replace

from bench.population import Population
from relay.domain.completion_age import CompletionAges
from relay.domain.coverage import Coverage, SweepConfig
from relay.domain.decision import (
    DeadLetter,
    Deliver,
    Limits,
    Reschedule,
    Timing,
    after_park,
    after_webhook_retry,
    decide,
)
from relay.domain.events import TerminalStatus, for_status
from relay.domain.fair_budget import (
    STARVED_MEMORY_SECONDS,
    FairBudget,
    FairGrant,
    FairState,
    lending_floor,
    next_sweep_share,
)
from relay.domain.gate_decision import (
    AskToken,
    Gate,
    GateConfig,
    GateReason,
    after_refusal,
    at_gate,
    wait_at_gate,
)
from relay.domain.poll_allowance import Allowance, next_allowance, revoked
from relay.domain.poll_outcome import Kind, PollOutcome
from relay.domain.rate_budget import (
    BudgetSplit,
    RateBudget,
    budget_within_limit,
)
from relay.domain.results import DeliveryOutcome
from relay.domain.retry_pacing import delivery_window_age
from relay.domain.schedule import Policy
from relay.domain.storefront_breaker import (
    Admission,
    BreakerConfig,
    BreakerState,
    Verdict,
    admit,
    after_delivery,
    park_delay,
)
from relay.domain.sweep import (
    ListedOrder,
    SweepPlan,
    SweepState,
    after_sweep,
    chunk_pages,
    interval_at,
    next_page_needed,
    observe_first_page,
    observe_page,
    plan_sweep,
    probe_after,
    terminal_orders,
)
from relay.domain.sweep_economics import (
    HISTORY_SECONDS,
    MIN_SAMPLES,
    RECENT_SECONDS,
    Strategy,
    arrival_rate,
    poll_times,
)
from relay.domain.sweep_economics import decide as decide_strategy
from simulator.ratelimit import SlidingWindowLimiter

PENDING = PollOutcome(Kind.PENDING, status="processing")
# relay.service.sweeper: a running sweeper looks at the ledger this often; a run that ends
# (per-order polling pays) is followed by the next scheduled one.
IN_FLIGHT_CHECK_SECONDS = 30.0
SCHEDULE_SECONDS = 60.0
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
    delivery_window: float = 86400.0  # webhook retries, from the first terminal sight


@dataclass(frozen=True)
class Mode:
    name: str
    policy: Policy
    sweep: SweepConfig | None = None  # a sweeper runs, per-order polls defer to it
    budget: bool = False  # per-order polls take a token first (always on with a sweep)
    sweep_share: float = 0.85
    # "auto": sweep only while relay.domain.sweep_economics says it pays (the relay's default);
    # "always": sweep whatever the load.
    sweep_strategy: str = "auto"
    lag_target: float = 30.0
    # The deployed sweeper's tick queue: each sweep a short run of its own (billed per sweep);
    # False: one run loops through its scheduled minute (billed for its sleeps).
    sweep_ticks: bool = True


@dataclass(frozen=True)
class Stress:
    """An incident on top of a steady load: a storefront outage, an overload, a mass redrive.

    The run warms up at the steady load until `start`; the incident lasts until `recovery`;
    arrivals at the steady load go on until every order that was deliverable at recovery has
    ended (plus `tail`), at most until `max_duration`.
    """

    name: str
    start: float = 900.0
    outage: float = 0.0  # the storefront answers every webhook with a 5xx for this long
    overload_rate: float = 0.0  # orders/hour during [start, start + overload)
    overload: float = 0.0
    redrive: int = 0  # dead letters moved back onto the orders queue from `start`
    redrive_per_minute: float = 5000.0  # console "system optimized" move: thousands a minute
    redrive_poison_share: float = 0.01  # bodies that were poison the first time too
    redrive_never_share: float = 0.03  # orders FoxReload still shows pending
    redrive_age: float = 2 * 86400.0  # the redriven orders were created this long before
    breaker: BreakerConfig | None = field(default_factory=BreakerConfig)  # None: no breaker
    tail: float = 900.0
    max_duration: float = 40 * 3600.0

    @property
    def redrive_seconds(self) -> float:
        return 60.0 * self.redrive / self.redrive_per_minute if self.redrive else 0.0

    @property
    def recovery(self) -> float:
        return self.start + max(self.outage, self.overload, self.redrive_seconds)


@dataclass(frozen=True)
class RunSpec:
    arrivals_per_hour: float
    warmup: float  # seconds of arrivals before the measurement window
    measure: float  # seconds of the measurement window (arrivals stop at its end)
    seed: int = 20261127
    stress: Stress | None = None


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
    webhook_failures: int = 0  # webhooks the storefront did not take (outage)
    parked: int = 0  # receives parked by the open storefront breaker (no API request)
    strategy_switches: int = 0  # sweep <-> per-order polling (relay.domain.sweep_economics)


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
    terminal_seen: float | None = None  # the ledger's first terminal sight (a claim or a park)
    ended_at: float = math.nan  # delivered, notified or dead-lettered
    accepted_webhooks: int = 0  # webhooks the storefront accepted for this order
    dlq_reason: str = ""
    poison: bool = False
    redriven: bool = False


@dataclass
class SweepRun:
    started: float
    plan: SweepPlan
    pages_read: int = 0
    number: int = 1  # the page to read next
    chunk: list[int] | None = None  # older pages still to read (None: still on the young ones)
    last_planned: list[ListedOrder] | None = None  # the last of the plan's pages, once probing


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
    stress: dict[str, object] | None = None
    sweep_mode_share: float = 1.0  # share of the window the sweeper swept (not per-order)
    sweeper: bool = False  # the mode schedules a sweeper (it may have chosen not to sweep)
    sweep_ticks: bool = False  # ... whose sweeps are runs of their own (a tick queue)


class Simulation:
    """One mode at one arrival rate. `run()` returns a Result."""

    def __init__(self, mode: Mode, population: Population, env: Environment, spec: RunSpec) -> None:
        self.mode, self.pop, self.env, self.spec = mode, population, env, spec
        self.pop_rng = random.Random(spec.seed)
        self.arrival_rng = random.Random(spec.seed + 1)
        self.rng = random.Random(spec.seed + 2)
        self.limiter = SlidingWindowLimiter(env.limit_per_minute, 60.0)
        self.limits = Limits(
            env.give_up_after, env.not_found_grace, env.auth_failure_delay, env.delivery_window
        )
        self.events: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.orders: list[Order] = []  # the storefront's orders, in creation order (the list)
        self.redriven: list[Order] = []  # old orders moved back from the DLQ (not on the list)
        self.open: dict[int, Order] = {}
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
        self.estimate = CompletionAges()  # the sweeper's completion-age estimate
        self.horizons: list[float] = []  # coverage published by finished sweeps (window)
        self.coverage: Coverage | None = None
        self.known: set[int] = set()
        self.plans: list[SweepPlan] = []
        self.sweep_starts: list[float] = []
        self._init_budgets(mode, env)
        # Sweep or per-order polling (relay.service.sweep_strategy): decided every in-flight check
        self.enq_times: list[float] = []  # arrivals, ascending (the acceptance index)
        self.strategy = Strategy.SWEEP
        self.poll_times = poll_times(mode.policy, env.give_up_after)
        self.next_look = 0.0
        self.strategy_since = 0.0
        self.sweep_mode_seconds = 0.0  # within the measurement window
        self.handover_until: float | None = None
        # relay.domain.poll_allowance: granted at the sweeper's looks, revoked by a 429
        self.allowance = Allowance()
        self.last_choice_demand = math.inf
        # stress scenarios: the storefront breaker (one shared state) and the incident
        self.stress = spec.stress
        self.breaker_cfg = self.stress.breaker if self.stress is not None else None
        self.breaker: BreakerState = BreakerState()
        self.breaker_opens = 0
        self.arrivals_end = self.window_end
        self.drain: set[int] = set()  # deliverable at recovery, not ended yet
        self.backlog_at_recovery = 0
        self.drained_at = math.nan
        self.sample_every = 60.0
        if self.stress is not None:
            self.arrivals_end = self.stress.max_duration
            self.sample_every = 300.0

    def _init_budgets(self, mode: Mode, env: Environment) -> None:
        """The key's split, the shared buckets and the per-order gate, as the relay sets them."""
        self.sweep_budget: RateBudget | None = None
        self.order_budget: RateBudget | None = None
        self.split: BudgetSplit | None = None
        if mode.sweep is not None:
            self.split = BudgetSplit.of(env.limit_per_minute, env.budget_burst, mode.sweep_share)
            self.sweep_budget, self.order_budget = self.split.sweeper, self.split.whole
        elif mode.budget:
            self.order_budget = budget_within_limit(env.limit_per_minute, env.budget_burst)
        self.sweep_bucket = self.sweep_budget.full(0.0) if self.sweep_budget else None
        # The per-order pollers' shared item: two lanes (relay.domain.fair_budget), and the
        # sweeper's current share of the key, lent to the pollers while they are refused.
        self.order_bucket: FairState | None = (
            FairBudget(self.order_budget).full(0.0) if self.order_budget else None
        )
        self.sweep_share = mode.sweep_share
        self.wanted_share = math.nan  # the key's share the last plan wanted (nan: no plan yet)
        # The per-order gate, as the relay's settings give it (a sweep implies a budget); None:
        # a baseline mode that polls without a gate.
        self.gate_config: GateConfig | None = None
        if self.order_budget is not None:
            self.gate_config = GateConfig(
                sweep=mode.sweep or SweepConfig(),
                give_up_after=env.give_up_after,
                sweep_enabled=mode.sweep is not None,
                limit_per_minute=env.limit_per_minute,
                burst=env.budget_burst,
                sweep_share=mode.sweep_share,
            )

    # -- event plumbing -------------------------------------------------------------------
    def at(self, when: float, kind: int, payload: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, payload))

    def count(self, now: float, name: str, amount: float = 1) -> None:
        total = self.total
        setattr(total, name, getattr(total, name) + amount)
        if self.window_start <= now < self.window_end:
            window = self.window
            setattr(window, name, getattr(window, name) + amount)

    # -- the run --------------------------------------------------------------------------
    def run(self) -> Result:
        self.at(self.next_arrival_gap(0.0), 0)
        self.at(60.0, 4)
        if self.sweep_cfg is not None:
            self.at(0.0, 2)
        if self.stress is not None:
            self.at(self.stress.recovery, 5)
            if self.stress.redrive:
                self.at(self.stress.start, 6, 0)
        handlers = (
            self.on_arrival,
            self.on_receive,
            self.on_sweep_start,
            self.on_sweep_page,
            self.on_sample,
            self.on_recovery,
            self.on_redrive,
        )
        hard_stop = self.window_end + self.env.give_up_after + 600.0
        if self.stress is not None:
            hard_stop = self.stress.max_duration + self.env.give_up_after + 3600.0
        while self.events:
            now, _, kind, payload = heapq.heappop(self.events)
            if now > hard_stop:
                break
            if now >= self.arrivals_end and not self.open and kind not in (0, 5, 6):
                break
            handlers[kind](now, payload)
        return self.result()

    def rate_at(self, now: float) -> float:
        s = self.stress
        if s is not None and s.overload and s.start <= now < s.start + s.overload:
            return s.overload_rate
        return self.spec.arrivals_per_hour

    def next_arrival_gap(self, now: float) -> float:
        return self.arrival_rng.expovariate(self.rate_at(now) / 3600.0)

    def on_arrival(self, now: float, _: object) -> None:
        if now >= self.arrivals_end:
            return
        # `now`: a regime-change population switches its mixture at a set simulated time.
        term_after, final = self.pop.draw(self.pop_rng, now)
        order = Order(
            len(self.orders), now - self.pop.create_to_enqueue, now, now + term_after, final
        )
        self.orders.append(order)
        self.enq_times.append(now)
        self.open[order.idx] = order
        self.at(now + self.pickup(), 1, order)
        self.at(now + self.next_arrival_gap(now), 0)

    # -- stress incidents -----------------------------------------------------------------
    def storefront_down(self, now: float) -> bool:
        s = self.stress
        return s is not None and s.outage > 0 and s.start <= now < s.start + s.outage

    def on_redrive(self, now: float, k: object) -> None:
        """One dead letter moved back onto the orders queue (a new message, a fresh deadline).
        Its order is old (not on the sweeper's pages) and long over at FoxReload, or still
        pending there, or the body is poison."""
        s = self.stress
        assert s is not None and isinstance(k, int)
        u = self.pop_rng.random()
        created = now - s.redrive_age
        final: str | None
        if u < s.redrive_never_share:
            term_at, final = math.inf, None
        else:
            final = None
            while final is None:
                _, final = self.pop.draw(self.pop_rng)
            term_at = created + 60.0
        poison = s.redrive_never_share <= u < s.redrive_never_share + s.redrive_poison_share
        if poison:  # no order id to read: nothing is known about the order
            term_at, final = math.inf, None
        order = Order(-1 - k, created, now, term_at, final, registered=True, redriven=True)
        order.poison = poison
        self.redriven.append(order)
        self.open[order.idx] = order
        self.at(now + self.pickup(), 1, order)
        if k + 1 < s.redrive:
            self.at(now + 60.0 / s.redrive_per_minute, 6, k + 1)

    def on_recovery(self, now: float, _: object) -> None:
        """The incident is over: what is deliverable now and not delivered is the backlog."""
        self.drain = {
            i for i, o in self.open.items() if o.term_at <= now and not o.poison and o.state == 0
        }
        self.backlog_at_recovery = len(self.drain)
        self.check_drained(now)

    def ended(self, order: Order, now: float) -> None:
        order.ended_at = now
        self.open.pop(order.idx, None)
        if self.drain:
            self.drain.discard(order.idx)
            self.check_drained(now)

    def check_drained(self, now: float) -> None:
        if self.drain or not math.isnan(self.drained_at):
            return
        assert self.stress is not None
        self.drained_at = now
        self.arrivals_end = min(self.arrivals_end, now + self.stress.tail)

    def pickup(self) -> float:
        return self.rng.uniform(self.env.esm_pickup_min, self.env.esm_pickup_max)

    def on_sample(self, now: float, _: object) -> None:
        waiting = sum(1 for o in self.open.values() if o.term_at <= now)
        self.backlog.append((now, waiting))
        self.at(now + self.sample_every, 4)

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
    def admit(self, now: float) -> Admission:
        """The storefront breaker's word (relay.service.storefront_guard.admit)."""
        assert self.breaker_cfg is not None
        admission = admit(self.breaker, self.breaker_cfg, now)
        if admission.verdict is Verdict.PROBE:
            self.breaker = admission.state  # this delivery took the probe slot
        return admission

    def attempt(
        self,
        order: Order,
        now: float,
        via_sweep: bool,
        extra: float = 0.0,
        admission: Admission | None = None,
    ) -> tuple[DeliveryOutcome, float]:
        """relay.service.delivery.Delivery.deliver: (outcome, wait when parked)."""
        if order.state != 0:
            self.claims_refused += 1  # the ledger claim fails: someone delivered it already
            return DeliveryOutcome.ALREADY_DONE, 0.0
        if self.breaker_cfg is not None:
            if admission is None:
                admission = self.admit(now)
            if admission.verdict is Verdict.PARK:
                if order.terminal_seen is None:  # note_terminal: starts the delivery window
                    order.terminal_seen = now
                    self.count(now, "ledger_writes")
                return DeliveryOutcome.PARKED, park_delay(admission.state, now, self.rng.random())
        if order.terminal_seen is None:
            order.terminal_seen = now  # the claim stores the first terminal sight
        if not self.send(now, extra):
            self.count(now, "webhook_failures")
            self.count(now, "ledger_writes")  # claim, then release
            return DeliveryOutcome.RETRY_LATER, 0.0
        order.accepted_webhooks += 1
        order.state = 1
        order.detected_at = now
        order.delivered_at = now + self.env.api_latency + self.env.webhook_latency + extra
        order.via_sweep = via_sweep
        self.ended(order, order.delivered_at)
        self.count(now, "ledger_writes", 2)  # claim + mark
        if via_sweep:
            self.count(now, "sweep_webhooks")
        in_window = self.window_start <= order.delivered_at < self.window_end
        if order.final == TerminalStatus.COMPLETED and in_window:
            self.window_deliveries += 1
        return DeliveryOutcome.DELIVERED, 0.0

    def send(self, now: float, extra: float) -> bool:
        """The webhook, and the storefront's answer recorded on the breaker."""
        self.count(now, "webhooks")
        accepted = not self.storefront_down(now + extra)
        if self.breaker_cfg is not None:
            was_open = self.breaker.is_open
            self.breaker = after_delivery(self.breaker, self.breaker_cfg, accepted, now)
            self.breaker_opens += self.breaker.is_open and not was_open
        return accepted

    def dead_letter(self, order: Order, now: float, reason: str) -> None:
        order.state = 2
        order.dlq_reason = reason
        self.ended(order, now)
        self.count(now, "dlq_sends")
        self.count(now, "deletes")

    def reschedule(self, order: Order, now: float, delay: float) -> None:
        self.count(now, "change_visibility")
        self.at(now + delay + self.pickup(), 1, order)

    # -- the per-order poller -------------------------------------------------------------
    def throttled(self, retry_after: float, now: float) -> None:
        """PollGate.throttled: a 429 empties the shared per-order bucket for Retry-After."""
        if self.order_bucket is not None and self.gate_config is not None:
            whole = FairBudget(self.gate_config.split().whole)
            self.order_bucket = whole.back_off(self.order_bucket, retry_after or 1.0, now)
            if self.gate_config.sweep_enabled:
                self.allowance = revoked(now)

    def adapt_sweep_share(self, now: float) -> None:
        """relay.service.sweeper.Sweeper.adapt_share, before each sweep."""
        ceiling = self.mode.sweep_share
        starved = self.order_bucket is not None and self.order_bucket.backlog_starved_since(
            now - STARVED_MEMORY_SECONDS
        )
        floor = lending_floor(ceiling, self.wanted_share)
        share = next_sweep_share(self.sweep_share, starved, floor=floor, ceiling=ceiling)
        if share != self.sweep_share:
            self.sweep_share = share
            split = BudgetSplit.of(self.env.limit_per_minute, self.env.budget_burst, share)
            self.sweep_budget = split.sweeper

    def on_receive(self, now: float, order: Order) -> None:
        """relay.service.order_relay.OrderRelay.process for one message."""
        order.receives += 1
        self.count(now, "receives")
        if order.poison:
            self.dead_letter(order, now, "poison")
            return
        elapsed = now - order.enq
        timing = Timing(order.receives - 1, elapsed, self.env.api_latency)
        if self.sweep_cfg is not None:
            self.count(now, "coverage_reads")  # the sweeper's heartbeat (cacheable)
            if self.touch(order, now):
                return
        elif order.receives == 1:
            self.count(now, "ledger_writes")  # the `accepted` record, as in every mode
        admission = None
        if self.breaker_cfg is not None and order.terminal_seen is not None:
            # Seen terminal before: the breaker decides before any request is spent.
            admission = self.admit(now)
            if admission.verdict is Verdict.PARK:
                self.count(now, "parked")
                wait = park_delay(admission.state, now, self.rng.random())
                since = delivery_window_age(now, order.terminal_seen, order.enq)
                parked = after_park(timing, self.limits, since, wait, self.rng.random())
                self.act(order, now, parked)
                return
        gate = self.gate(order, now, elapsed)
        if not gate.poll:
            self.wait_at_gate(order, now, timing, gate)
            return
        self.poll(order, now, timing, admission)

    def gate(self, order: Order, now: float, elapsed: float) -> Gate:
        """relay.service.poll_gate.PollGate.check: the coverage, the decision, the token from
        the shared per-order bucket, and what a refusal means."""
        config = self.gate_config
        if config is None or self.order_bucket is None:
            return Gate(True)
        step = at_gate(now - self.accepted_at(order), elapsed, now, self.published(), config)
        if not isinstance(step, AskToken):
            return step
        grant = self.take_order_token(step, now)
        if grant.granted:
            return Gate(True, lane=step.lane)
        return after_refusal(grant.wait, elapsed, step.lane, config.give_up_after)

    def published(self) -> Coverage | None:
        """The coverage item as a poller reads it: the last sweep's heartbeat and the allowance."""
        if self.sweep_cfg is None:
            return self.coverage
        base = self.coverage or Coverage(swept_at=0.0, horizon=0.0, interval=1.0)
        return replace(base, allowance=self.allowance)

    def take_order_token(self, ask: AskToken, now: float) -> FairGrant:
        """PollGate.take: a token from the lane of the shared per-order bucket."""
        assert self.order_bucket is not None
        grant = FairBudget(ask.budget, ask.old_share).take(self.order_bucket, ask.lane, now)
        self.order_bucket = grant.state
        self.count(now, "budget_writes")
        return grant

    def wait_at_gate(self, order: Order, now: float, timing: Timing, gate: Gate) -> None:
        """OrderRelay._wait_at_gate: covered by the sweep, or waiting for a token (which never
        dead-letters: the message waits, paced by its age)."""
        if gate.reason is GateReason.BUDGET:
            self.count(now, "budget_deferrals")
        spread, pace = self.rng.random(), self.rng.random()
        self.act(order, now, wait_at_gate(gate, timing, self.env.give_up_after, spread, pace))

    def accepted_at(self, order: Order) -> float:
        """The ledger's `accepted_at`, from which the relay ages an order: its first message's
        enqueue (a redriven order keeps the one of its first life)."""
        return order.created + self.pop.create_to_enqueue if order.redriven else order.enq

    def poll(self, order: Order, now: float, timing: Timing, admission: Admission | None) -> None:
        """OrderRelay._poll after the gate: one GET, the outcome table."""
        retry_after = self.api(now)
        if retry_after is None:
            outcome = self.outcome_of(order, now)
        else:
            outcome = PollOutcome(Kind.THROTTLED, status="429", retry_after=retry_after)
            self.throttled(retry_after, now)
        action = decide(outcome, timing, self.limits, self.mode.policy, self.rng.random())
        if not isinstance(action, Deliver):
            self.act(order, now, action)
            return
        result, wait = self.attempt(order, now, via_sweep=False, admission=admission)
        if result in (DeliveryOutcome.DELIVERED, DeliveryOutcome.ALREADY_DONE):
            self.count(now, "deletes")
        elif result is DeliveryOutcome.PARKED:
            assert order.terminal_seen is not None
            since = delivery_window_age(now, order.terminal_seen, order.enq)
            self.act(order, now, after_park(timing, self.limits, since, wait, self.rng.random()))
        else:
            assert order.terminal_seen is not None
            since = delivery_window_age(now, order.terminal_seen, order.enq)
            self.act(
                order, now, after_webhook_retry(timing, self.limits, since, None, self.rng.random())
            )

    def touch(self, order: Order, now: float) -> bool:
        """The ledger touch of the sweep-enabled handler. True when the order is done."""
        if not order.registered:
            order.registered = True
            self.count(now, "ledger_writes")  # the `accepted` record
            return False
        self.count(now, "ledger_reads")  # is it delivered already?
        if order.state != 0:
            self.count(now, "deletes")
            return True
        return False

    def act(self, order: Order, now: float, action: object) -> None:
        if isinstance(action, Deliver):  # not reached: deliveries go through attempt()
            raise AssertionError("a delivery is attempted, not acted on")
        if isinstance(action, Reschedule):
            self.reschedule(order, now, action.delay)
        else:
            assert isinstance(action, DeadLetter)
            self.dead_letter(order, now, action.reason)

    # -- the sweeper ----------------------------------------------------------------------
    def on_sweep_start(self, now: float, _: object) -> None:
        assert self.sweep_cfg is not None and self.sweep_budget is not None
        if self.mode.sweep_strategy == "auto" and now >= self.next_look:
            self.next_look = now + IN_FLIGHT_CHECK_SECONDS
            swept_before = self.strategy is Strategy.SWEEP
            self.look(now)
            # relay.service.sweeper.Sweeper._hand_over: per-order polling takes over once the
            # messages the sweep deferred are back; meanwhile the sweep covers nothing.
            if self.strategy is Strategy.SWEEP:
                self.handover_until = None
            elif self.handover_until is None:
                self.handover_until = now + (self.sweep_cfg.max_defer if swept_before else 0.0)
            # Sweeper._publish_allowance: unmetered per-order polls once no sweep runs.
            sweeping = self.strategy is Strategy.SWEEP or (
                self.handover_until is not None and now < self.handover_until
            )
            self.allowance = next_allowance(
                self.allowance,
                sweeping=sweeping,
                requests_per_hour=self.last_choice_demand,
                requests_per_hour_limit=self.env.limit_per_minute * 60,
                now=now,
            )
        if self.handover_until is not None and now >= self.handover_until:
            # The run ends; the next scheduled one (a minute on) looks again.
            self.next_look = now + SCHEDULE_SECONDS
            self.at(now + SCHEDULE_SECONDS, 2)
            return
        self.adapt_sweep_share(now)
        plan = plan_sweep(
            self.sweep_state, self.sweep_cfg, self.sweep_budget.rate, now, self.estimate
        )
        assert self.split is not None  # the configured split, before any loan
        self.wanted_share = plan.wanted_share(self.mode.sweep_share, self.split.sweeper.rate)
        if self.window_start <= now < self.window_end:
            self.plans.append(plan)
            self.sweep_starts.append(now)
        self.count(now, "sweeps")
        self.at(now, 3, SweepRun(now, plan))

    def look(self, now: float) -> None:
        """relay.service.sweeper.Sweeper.look: the orders accepted within the deadline's span,
        their completion ages so far, and the same decision."""
        window = self.env.give_up_after
        lo = bisect.bisect_right(self.enq_times, now - window)
        recent_span = min(RECENT_SECONDS, window)
        recent = len(self.enq_times) - bisect.bisect_right(self.enq_times, now - recent_span)
        if len(self.enq_times) - lo < MIN_SAMPLES:
            lo = bisect.bisect_right(self.enq_times, now - HISTORY_SECONDS)
        in_window = len(self.enq_times) - bisect.bisect_right(self.enq_times, now - window)
        samples = []
        for order in self.orders[lo:]:
            seen = order.terminal_seen
            done = seen is not None and seen <= now
            samples.append(((seen if done else now) - order.enq, done))  # type: ignore[operator]
        rate = arrival_rate(in_window, window, recent, recent_span)
        assert self.sweep_cfg is not None and self.sweep_budget is not None
        interval = None
        if self.mode.sweep_ticks:
            interval = interval_at(rate, self.sweep_cfg, self.sweep_budget.rate)
        choice = decide_strategy(
            samples,
            rate,
            self.strategy,
            self.poll_times,
            lag_target=self.mode.lag_target,
            requests_per_hour_limit=self.env.limit_per_minute * 60,
            sweep_interval=interval,
        )
        self.last_choice_demand = choice.per_order_requests_per_hour
        if choice.strategy is not self.strategy:
            self.note_strategy_time(now)
            self.strategy = choice.strategy
            self.count(now, "strategy_switches")

    def note_strategy_time(self, now: float) -> None:
        """Time spent sweeping within the measurement window (the sweeper is billed for it)."""
        lo = max(self.strategy_since, self.window_start)
        hi = min(now, self.window_end)
        if self.strategy is Strategy.SWEEP and hi > lo:
            self.sweep_mode_seconds += hi - lo
        self.strategy_since = now

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
            self.publish(run, [], False)
            self.at(now + retry_after, 2)
            return
        run.pages_read += 1
        page = self.list_page(now, run.number, run.plan)
        if run.pages_read == 1:
            self.sweep_state = observe_first_page(self.sweep_state, self.sweep_cfg, page, now)
        self.estimate = observe_page(self.estimate, self.sweep_cfg, page, now)
        found: list[Order] = []
        for listed in terminal_orders(page):
            idx = int(listed.order_id)
            if idx in self.known:
                continue
            self.count(now, "ledger_reads")
            order = self.orders[idx]
            if not order.registered:
                continue  # not accepted by the relay yet (or not ours): look again next sweep
            if order.state != 0:
                self.known.add(idx)
                continue
            found.append(order)
        self.sweep_deliver(found, now)
        width = self.env.sweep_concurrency
        spent = self.env.api_latency + math.ceil(len(found) / width) * self.env.webhook_latency
        self.count(now, "sweeper_seconds", spent)
        if self.another_page(run, page, now):
            self.at(now + spent, 3, run)
            return
        self.publish(run, page if run.last_planned is None else run.last_planned, True)
        self.at(max(run.started + run.plan.interval, now + spent), 2)

    def another_page(self, run: SweepRun, page: list[ListedOrder], now: float) -> bool:
        """relay.service.sweeper.Sweeper.sweep_once: the young pages while `next_page_needed`,
        then the plan's chunk of older pages (`chunk_pages`) unless the list ended."""
        if run.chunk is None:
            if next_page_needed(page, run.plan, run.pages_read, now):
                run.number += 1
                return True
            run.chunk = list(chunk_pages(run.plan, page, now))
        elif len(page) < run.plan.page_limit:
            run.chunk = []  # the list ends here
        if run.chunk:
            run.number = run.chunk.pop(0)
            return True
        if run.last_planned is None:
            probe = probe_after(run.plan, page)
            if probe is not None:
                run.last_planned = page
                run.number = probe
                return True
        return False

    def publish(self, run: SweepRun, last: list[ListedOrder], finished: bool) -> None:
        """relay.service.sweeper: the coverage after a sweep (relay.domain.sweep.after_sweep)."""
        self.sweep_state, coverage = after_sweep(
            self.sweep_state, run.plan, run.started, last, finished
        )
        self.coverage = replace(coverage, sweep_share=self.sweep_share)
        if self.handover_until is not None:
            self.coverage = replace(self.coverage, horizon=0.0)  # handing over: covers nothing
        if finished and self.window_start <= run.started < self.window_end:
            self.horizons.append(coverage.horizon)

    def sweep_deliver(self, found: list[Order], now: float) -> None:
        """The sweeper delivers a page's finds concurrently, `sweep_concurrency` at a time."""
        width = self.env.sweep_concurrency
        for j, order in enumerate(found):
            breaker = self.breaker
            if self.breaker_cfg is not None and breaker.is_open and now < breaker.next_probe_at:
                continue  # the storefront is down: the order's own message parks it
            extra = (j // width) * self.env.webhook_latency
            result, _ = self.attempt(order, now, via_sweep=True, extra=extra)
            if result is DeliveryOutcome.DELIVERED:
                self.known.add(order.idx)
            # parked / retry later: the order's own message decides

    def list_page(self, now: float, page: int, plan: SweepPlan) -> list[ListedOrder]:
        """GET /api/orders/?status=&page=&limit=: newest first by createdAt, statuses as of now."""
        visible_at = now - self.env.list_lag
        out: list[ListedOrder] = []
        skip = (page - 1) * plan.page_limit
        if plan.status_filter is None:
            # Orders arrive in creation order and none is created after `now`: a page is a
            # slice, newest first.
            top = len(self.orders) - 1 - skip
            for i in range(top, max(-1, top - plan.page_limit), -1):
                order = self.orders[i]
                done = order.final is not None and order.term_at <= visible_at
                status = order.final if done and order.final is not None else "processing"
                out.append(ListedOrder(str(i), status, order.created))
            return out
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
        self.note_strategy_time(self.window_end)
        sweep_mode_share = self.sweep_mode_seconds / max(1e-9, self.window_end - self.window_start)
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
            sweep_mode_share=sweep_mode_share if self.sweep_cfg is not None else 0.0,
            sweeper=self.sweep_cfg is not None,
            sweep_ticks=self.sweep_cfg is not None and self.mode.sweep_ticks,
            stress=self.stress_summary() if self.stress is not None else None,
        )

    def stress_summary(self) -> dict[str, object]:
        """Every order of the run (not only a window's): how the incident ended for them."""
        s = self.stress
        assert s is not None
        everyone = self.orders + self.redriven
        reasons: dict[str, int] = {}
        completed_dead = dead_terminal = 0
        peak_age = 0.0
        for o in everyone:
            if o.state == 2:
                reasons[o.dlq_reason] = reasons.get(o.dlq_reason, 0) + 1
                if o.final is not None and o.term_at <= o.ended_at:
                    dead_terminal += 1  # terminal at FoxReload when it was dead-lettered
                    completed_dead += o.final == "completed"
            if o.state != 0 and not o.poison and o.term_at <= o.ended_at:
                # how long the relay held an order it could have delivered
                peak_age = max(peak_age, o.ended_at - max(o.term_at, o.enq))
        usable = budget_within_limit(self.env.limit_per_minute, self.env.budget_burst).rate
        drain = self.drained_at - s.recovery
        return {
            "orders": len(everyone),
            "redriven": len(self.redriven),
            "delivered": sum(1 for o in everyone if o.state == 1),
            "dead_lettered": sum(reasons.values()),
            "dead_letter_reasons": reasons,
            "dead_lettered_terminal_at_foxreload": dead_terminal,
            "dead_lettered_completed_at_foxreload": completed_dead,
            "duplicate_deliveries": sum(max(0, o.accepted_webhooks - 1) for o in everyone),
            "open_at_end": len(self.open),
            "backlog_at_recovery": self.backlog_at_recovery,
            "usable_rate": usable,
            "drain_bound_seconds": self.backlog_at_recovery / usable,
            "drain_seconds": drain,
            "peak_backlog_age_seconds": peak_age,
            "recovery_at": s.recovery,
            "simulated_seconds": max((o.ended_at for o in everyone if o.state), default=0.0),
            "api_requests": self.total.api_requests,
            "api_429": self.total.api_429,
            "webhook_failures": self.total.webhook_failures,
            "parked_receives": self.total.parked,
            "breaker_opens": self.breaker_opens,
            "budget_deferrals": self.total.budget_deferrals,
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); inf entries (never delivered) count as largest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def simulate(mode: Mode, population: Population, env: Environment, spec: RunSpec) -> Result:
    return Simulation(mode, population, env, spec).run()
