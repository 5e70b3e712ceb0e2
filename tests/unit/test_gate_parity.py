"""The benchmark's per-order gate is the relay's: on the same message, coverage, bucket and
random draws, `OrderRelay.process` (through the real `PollGate`, with an in-memory coordination
table) and the simulation's `on_receive` poll or wait alike: the same gate, the same reschedule,
the same bucket state left behind. A bench that decided differently could not back a claim."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.des import Environment, Mode, Order, RunSpec, Simulation
from bench.population import DEFAULT
from relay.adapters.coordination import StoredBucket
from relay.adapters.ledger import OrderRecord
from relay.domain.coverage import Coverage
from relay.domain.decision import Reschedule
from relay.domain.fair_budget import NEVER, FairState, LaneState
from relay.domain.gate_decision import Gate
from relay.domain.poll_allowance import Allowance
from relay.domain.rate_budget import BucketState
from relay.domain.schedule import RelayPolicy
from relay.names import Metric
from relay.service.deps import RelayDeps
from relay.service.order_relay import OrderRelay, QueueRecord, Rescheduled
from relay.service.poll_gate import sweep_config
from relay.settings import PollerSettings

NOW = 1_000_000.0
ENV = Environment()
# Multiples of 1/8 s: the two sides derive ages from different stored times, and these keep
# that arithmetic exact (a deadline boundary is then the same boundary on both).
EIGHTHS = st.integers(min_value=0, max_value=8 * 20_000).map(lambda k: k / 8)
RECENT = st.integers(min_value=0, max_value=8 * 300).map(lambda k: k / 8)


@dataclass(frozen=True)
class Case:
    limit: float
    give_up_after: float
    share: float
    sweep: bool
    elapsed: float
    redriven_before: float | None  # a redriven order: accepted this long before its message
    receives: int
    coverage: Coverage | None
    bucket: FairState
    rands: tuple[float, float]

    @property
    def age(self) -> float:
        return self.elapsed if self.redriven_before is None else self.elapsed + self.redriven_before

    def settings(self) -> PollerSettings:
        return PollerSettings(
            "https://fox.invalid",
            "fox-key",
            "ledger",
            "orders",
            "dlq",
            "https://sink.invalid",
            "secret",
            give_up_after_seconds=self.give_up_after,
            foxreload_rate_limit_per_minute=self.limit,
            sweep_enabled=self.sweep,
            sweep_budget_share=self.share,
        )


@dataclass(frozen=True)
class Seen:
    gate: Gate
    polled: bool
    reschedule: tuple[int, str] | None
    bucket: FairState
    budget_waits: int


# -- the relay ------------------------------------------------------------------------------
class Polled(Exception):
    """The gate let the message through to FoxReload."""


@dataclass
class FakeCoordination:
    """CoordinationTable's gate items in memory (conditional writes on a version)."""

    coverage: Coverage | None
    stored: StoredBucket

    def read_coverage(self) -> Coverage | None:
        return self.coverage

    def read_bucket(self) -> StoredBucket:
        return self.stored

    def write_bucket(self, state: FairState, expected_version: int) -> bool:
        if expected_version != self.stored.version:
            return False
        self.stored = StoredBucket(state, expected_version + 1)
        return True


@dataclass
class FakeLedger:
    accepted_at: float

    def touch(
        self, order_id: str, *, sent_at: float, storefront_ref: str | None, now: float
    ) -> OrderRecord:
        return OrderRecord(
            order_id, self.accepted_at, None, None, None, None, None, 2, None, None, None
        )


class FakeFox:
    async def get_order(self, order_id: str, until: float | None = None) -> Any:
        raise Polled


@dataclass
class Recorder:
    counts: dict[str, float] = field(default_factory=dict)

    def count(self, name: str, value: float = 1.0) -> None:
        self.counts[name] = self.counts.get(name, 0.0) + value

    def seconds(self, name: str, value: float) -> None:
        pass

    def info(self, *args: object, **kwargs: object) -> None:
        pass

    def warning(self, *args: object, **kwargs: object) -> None:
        pass

    def reschedule(self, receipt_handle: str, visibility_seconds: int) -> None:
        pass


def relay_sees(case: Case) -> Seen:
    sent_at = NOW - case.elapsed
    coordination = FakeCoordination(case.coverage, StoredBucket(case.bucket, 7))
    rands = iter(case.rands)
    recorder = Recorder()
    deps = RelayDeps(
        case.settings(),
        foxreload=FakeFox(),  # type: ignore[arg-type]
        sink=None,  # type: ignore[arg-type]
        ledger=FakeLedger(NOW - case.age),  # type: ignore[arg-type]
        queue=recorder,  # type: ignore[arg-type]
        coordination=coordination,  # type: ignore[arg-type]
        webhook_secret=lambda: "",
        metrics=recorder,
        log=recorder,
        clock=lambda: NOW,
        rand=lambda: next(rands),
    )
    relay = OrderRelay(deps)
    gates: list[Gate] = []
    check = relay.gate.check
    relay.gate.check = lambda *a: gates.append(check(*a)) or gates[-1]  # type: ignore[method-assign]
    body = json.dumps({"v": 1, "order_id": "parity-1"})
    record = QueueRecord("m-1", "r-1", body, case.receives, sent_at)
    polled, reschedule = False, None
    try:
        asyncio.run(relay.process(record, received_at=NOW - ENV.api_latency))
    except Polled:
        polled = True
    except Rescheduled as r:
        reschedule = (r.delay, r.reason)
    [gate] = gates
    stored = coordination.stored.state
    assert stored is not None
    return Seen(gate, polled, reschedule, stored, int(recorder.counts.get(Metric.BUDGET_WAITS, 0)))


# -- the bench ------------------------------------------------------------------------------
class Draws:
    def __init__(self, values: tuple[float, ...]) -> None:
        self.values = iter(values)

    def random(self) -> float:
        return next(self.values)


def bench_sees(case: Case) -> Seen:
    relay_settings = case.settings()
    env = Environment(
        limit_per_minute=int(case.limit),
        give_up_after=case.give_up_after,
        budget_burst=min(10.0, case.limit / 10),
    )
    mode = Mode(
        "relay" if case.sweep else "relay-per-order+budget",
        RelayPolicy(),
        sweep=sweep_config(relay_settings) if case.sweep else None,
        budget=True,
        sweep_share=case.share,
    )
    sim = Simulation(mode, DEFAULT, env, RunSpec(1000, warmup=0.0, measure=0.0))
    sim.coverage = case.coverage
    sim.allowance = case.coverage.allowance if case.coverage is not None else Allowance()
    sim.order_bucket = case.bucket
    sim.rng = Draws(case.rands)  # type: ignore[assignment]
    enq = NOW - case.elapsed
    redriven = case.redriven_before is not None
    accepted = enq - (case.redriven_before or 0.0)
    created = accepted - DEFAULT.create_to_enqueue if redriven else enq - 0.5
    order = Order(-1 if redriven else 0, created, enq, math.inf, None, registered=True)
    order.redriven = redriven
    order.receives = case.receives - 1
    gates: list[Gate] = []
    acted: list[object] = []
    polled: list[bool] = []
    gate = sim.gate
    sim.gate = lambda *a: gates.append(gate(*a)) or gates[-1]  # type: ignore[method-assign]
    sim.act = lambda order, now, action: acted.append(action)  # type: ignore[method-assign]
    sim.poll = lambda *a: polled.append(True)  # type: ignore[method-assign]
    sim.on_receive(NOW, order)
    [seen_gate] = gates
    reschedule = None
    if acted:
        [action] = acted
        assert isinstance(action, Reschedule)
        reschedule = (action.delay, action.reason)
    assert sim.order_bucket is not None
    return Seen(seen_gate, bool(polled), reschedule, sim.order_bucket, sim.total.budget_deferrals)


# -- the inputs -----------------------------------------------------------------------------
@st.composite
def coverages(draw: st.DrawFn) -> Coverage | None:
    """None, fresh, stale, ahead of the poller's clock, cut short, within the cover margin,
    with and without the sweeper's published share."""
    if draw(st.integers(0, 4)) == 0:
        return None
    interval = draw(st.sampled_from([2.0, 5.0, 12.0]))
    since = draw(
        st.one_of(
            st.floats(min_value=-6.0, max_value=100.0),
            st.just(3 * interval + 20.0),  # the staleness edge (default grace)
        )
    )
    horizon = draw(
        st.one_of(
            st.just(0.0),
            st.just(15.0),  # the default cover margin
            st.floats(min_value=0.0, max_value=300.0),
            RECENT,
        )
    )
    share = draw(st.one_of(st.none(), st.floats(min_value=0.2, max_value=0.9)))
    return Coverage(NOW - since, horizon, interval, share, draw(allowances()))


def allowances() -> st.SearchStrategy[Allowance]:
    """None granted, granted (until ahead of now), lapsed, revoked."""
    return st.builds(
        Allowance,
        st.one_of(st.just(0.0), st.floats(min_value=NOW - 300.0, max_value=NOW + 300.0)),
        st.one_of(st.none(), st.floats(min_value=NOW - 1000.0, max_value=NOW)),
    )


def lanes() -> st.SearchStrategy[LaneState]:
    return st.builds(
        LaneState,
        st.builds(
            BucketState,
            st.one_of(
                st.just(0.0),
                st.floats(min_value=0.0, max_value=1.0),
                st.floats(min_value=0.0, max_value=10.0),
            ),
            st.floats(min_value=NOW - 120.0, max_value=NOW + 60.0),  # ahead: a 429's back-off
        ),
        st.one_of(st.just(NEVER), st.floats(min_value=NOW - 60.0, max_value=NOW)),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    give_up_after = draw(st.sampled_from([900.0, 120.0]))
    elapsed = draw(
        st.one_of(
            RECENT,
            RECENT,
            EIGHTHS,
            st.sampled_from([give_up_after - 1, give_up_after, give_up_after + 0.125]),
        )
    )
    redriven_before = draw(st.one_of(st.none(), st.none(), RECENT, EIGHTHS))
    return Case(
        limit=draw(st.sampled_from([100.0, 50.0, 300.0])),
        give_up_after=give_up_after,
        share=draw(st.sampled_from([0.85, 0.6])),
        sweep=draw(st.booleans()),
        elapsed=elapsed,
        redriven_before=redriven_before,
        receives=draw(st.integers(min_value=1, max_value=40)),
        coverage=draw(coverages()),
        bucket=FairState(draw(lanes()), draw(lanes())),
        rands=(draw(st.floats(0.0, 0.999)), draw(st.floats(0.0, 1.0))),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_bench_gates_a_message_as_the_relay_does(case):
    relay, bench = relay_sees(case), bench_sees(case)
    assert bench == relay


def test_the_cases_reach_every_outcome():
    """The parity above means something only if the inputs reach each way through the gate."""
    covered = Coverage(NOW - 1.0, 300.0, 5.0, 0.5)
    base = Case(100.0, 900.0, 0.85, True, 10.0, None, 2, covered, _lanes(10.0), (0.5, 0.5))
    swept = relay_sees(base)
    assert swept.gate.reason is not None and swept.gate.reason.value == "swept"
    polled = relay_sees(Case(**{**base.__dict__, "elapsed": 600.0}))
    assert polled.polled
    refused = relay_sees(Case(**{**base.__dict__, "elapsed": 600.0, "bucket": _lanes(0.0)}))
    assert refused.reschedule is not None and refused.reschedule[1] == "budget"
    assert refused.budget_waits == 1
    for case in (base, Case(**{**base.__dict__, "elapsed": 600.0, "bucket": _lanes(0.0)})):
        assert bench_sees(case) == relay_sees(case)


def _lanes(tokens: float) -> FairState:
    lane = LaneState(BucketState(tokens, NOW))
    return FairState(lane, lane)
