"""The shared request budget and the sweep coverage, as the per-order poller sees them."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest

from relay.adapters.coordination import CoordinationTable
from relay.domain.coverage import Coverage
from relay.domain.fair_budget import FairState, Lane, LaneState
from relay.domain.gate_decision import GateReason
from relay.domain.poll_allowance import Allowance
from relay.domain.rate_budget import BucketState
from relay.names import Metric
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import fox_reply, make_visible, process


def test_polls_beyond_the_budget_wait_instead_of_meeting_429s(world):
    ids = [f"burst-{i:02d}" for i in range(14)]
    for order_id in ids:
        world.fox_orders(order_id, fox_reply(order_id, "processing"))
        world.send(json.dumps({"v": 1, "order_id": order_id}))
    records = []
    while len(records) < len(ids):
        records += world.receive()
    results = process(world, records)  # concurrently, as one invocation would
    reasons = [r.reason for r in results if isinstance(r, Rescheduled)]
    # The bucket's burst, but for the token the other (OLD) lane keeps; then pacing.
    burst = world.runtime.relay.gate.split.whole.burst - 1
    assert reasons.count("pending") == burst
    assert reasons.count("budget") == len(ids) - burst
    assert world.metrics.counts[Metric.POLL_ATTEMPTS] == burst
    assert world.metrics.counts[Metric.BUDGET_WAITS] == len(ids) - burst


def test_one_batch_takes_its_tokens_without_losing_races_to_itself(world):
    """Ten records of one invocation take tokens from the one bucket item at the same moment:
    within the process they take turns, so none waits while the budget has tokens."""
    gate = world.runtime.relay.gate
    ids = [f"batch-{i:02d}" for i in range(8)]
    for order_id in ids:
        world.fox_orders(order_id, fox_reply(order_id, "completed", ("C",)))
        world.send(json.dumps({"v": 1, "order_id": order_id}))
    records = []
    while len(records) < len(ids):
        records += world.receive()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the threads as a real network round trip would
    try:
        results = process(world, records)
    finally:
        sys.setswitchinterval(switch)
    assert results == ["order.delivered"] * len(ids)
    assert Metric.BUDGET_WAITS not in world.metrics.counts
    stored = CoordinationTable(world.ddb, world.table).read_bucket()
    assert 1 <= stored.version <= len(ids)  # tokens taken in groups, no write lost
    state = stored.state
    assert state is not None
    spent = gate.split.whole.burst - state.new.bucket.tokens - state.old.bucket.tokens
    assert spent == pytest.approx(len(ids), abs=0.5)  # every token counted once


def test_asks_queued_behind_a_bucket_round_trip_share_one_read_and_one_write(world):
    """While one thread reads and writes the bucket item, the asks that arrive meanwhile wait
    and are then served together: a batch pays two round trips for its tokens, not twenty."""
    gate = world.runtime.relay.gate
    coordination = gate.coordination
    reads: list[float] = []
    writes: list[int] = []
    read_bucket, write_bucket = coordination.read_bucket, coordination.write_bucket

    def slow_read():
        reads.append(time.monotonic())
        time.sleep(0.05)  # a DynamoDB round trip, long enough for the others to queue
        return read_bucket()

    def counted_write(state, version):
        writes.append(version)
        return write_bucket(state, version)

    coordination.read_bucket = slow_read
    coordination.write_bucket = counted_write
    asks = 8
    with ThreadPoolExecutor(asks) as pool:
        grants = list(
            pool.map(lambda _: gate.take(gate.split.whole, world.clock.now), range(asks))
        )
    assert all(grant.granted for grant in grants)
    assert len(reads) == len(writes) <= 2
    stored = CoordinationTable(world.ddb, world.table).read_bucket()
    assert stored.state is not None
    left = stored.state.new.bucket.tokens + stored.state.old.bucket.tokens
    assert left == pytest.approx(gate.split.whole.burst - asks, abs=0.5)


def test_a_group_past_the_budget_grants_what_there_is_and_refuses_the_rest(world):
    gate = world.runtime.relay.gate
    coordination = gate.coordination
    read_bucket = coordination.read_bucket

    def slow_read():
        time.sleep(0.05)
        return read_bucket()

    coordination.read_bucket = slow_read
    asks = 14
    with ThreadPoolExecutor(asks) as pool:
        grants = list(
            pool.map(lambda _: gate.take(gate.split.whole, world.clock.now), range(asks))
        )
    granted = [grant for grant in grants if grant.granted]
    # The burst but for the token the other (OLD) lane keeps; every refusal says when to return.
    assert len(granted) == gate.split.whole.burst - 1
    assert all(grant.wait > 0 for grant in grants if not grant.granted)


def test_a_429_makes_every_other_poller_wait_too(world):
    first, second = "throttled-1", "waiting-2"
    world.fox_orders(first, httpx.Response(429, headers={"Retry-After": "30"}))
    route = world.fox_orders(second, fox_reply(second, "completed", ("C",)))
    world.send(json.dumps({"v": 1, "order_id": first}))
    [r1] = world.receive()
    [result] = process(world, [r1])
    assert result.reason == "throttled"

    world.send(json.dumps({"v": 1, "order_id": second}))
    [r2] = world.receive()
    [waited] = process(world, [r2])
    assert isinstance(waited, Rescheduled)
    assert waited.reason == "budget"
    assert waited.delay >= 29
    assert route.call_count == 0


def test_an_order_covered_by_a_fresh_sweep_is_not_polled(world, monkeypatch):
    world.runtime.relay.gate.settings = replace(world.runtime.settings, sweep_enabled=True)
    CoordinationTable(world.ddb, world.table).write_coverage(
        Coverage(swept_at=world.clock.now, horizon=300.0, interval=5.0)
    )
    order_id = "covered-1"
    route = world.fox_orders(order_id, fox_reply(order_id, "completed", ("C",)))
    world.send(json.dumps({"v": 1, "order_id": order_id}))
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert result.reason == "swept"
    assert route.call_count == 0
    assert world.metrics.counts[Metric.SWEEP_DEFERRALS] == 1


def test_stale_coverage_is_no_coverage(world, monkeypatch):
    world.runtime.relay.gate.settings = replace(world.runtime.settings, sweep_enabled=True)
    CoordinationTable(world.ddb, world.table).write_coverage(
        Coverage(swept_at=world.clock.now - 3600, horizon=300.0, interval=5.0)
    )
    order_id = "stale-1"
    route = world.fox_orders(order_id, fox_reply(order_id, "completed", ("C",)))
    world.send(json.dumps({"v": 1, "order_id": order_id}))
    [record] = world.receive()
    assert process(world, [record]) == ["order.delivered"]
    assert route.call_count == 1


def test_no_budget_at_the_deadline_never_dead_letters_the_order_waits(world):
    order_id = "starved-1"
    route = world.fox_orders(
        order_id, fox_reply(order_id, "completed", ("C",)), fox_reply(order_id, "completed", ("C",))
    )
    table = CoordinationTable(world.ddb, world.table)

    world.send(json.dumps({"v": 1, "order_id": order_id}))
    [record] = world.receive()
    world.clock.now = record.sent_at + world.runtime.settings.give_up_after_seconds + 500
    # the bucket is empty for the next 20 minutes (a long back-off)
    table.write_bucket(_empty(world.clock.now + 1200), 0)
    [waited] = process(world, [record])
    assert isinstance(waited, Rescheduled)
    assert waited.reason == "budget"
    assert world.dlq() == []
    assert route.call_count == 0  # no request spent
    [age] = world.metrics.values[Metric.BACKLOG_AGE_SECONDS]
    assert age >= world.runtime.settings.give_up_after_seconds + 500
    # once the budget is back, the (late) look finds it completed and delivers it
    world.clock.advance(1300)
    make_visible(world, record)
    [record] = world.receive()
    assert process(world, [record]) == ["order.delivered"]
    assert world.dlq() == []


def test_a_sweep_cut_short_covers_nothing_and_returns_the_whole_budget(world):
    gate = world.runtime.relay.gate
    gate.settings = replace(world.runtime.settings, sweep_enabled=True)
    CoordinationTable(world.ddb, world.table).write_coverage(
        Coverage(swept_at=world.clock.now, horizon=0.0, interval=5.0)
    )
    checked = gate.check(age=1.0, elapsed=1.0, now=world.clock.now)
    assert checked.poll
    grants = [gate.take(gate.split.whole, world.clock.now).granted for _ in range(12)]
    # The whole key, not the 15 % share: all of its burst but the check's token and the one
    # the other (OLD) lane keeps for itself.
    assert grants.count(True) == gate.split.whole.burst - 2


def test_a_take_that_waited_for_its_turn_counts_the_tokens_refilled_meanwhile(world):
    gate = world.runtime.relay.gate
    budget = gate.split.whole
    start = world.clock.now
    coordination = CoordinationTable(world.ddb, world.table)
    assert coordination.write_bucket(_empty(start), 0)  # empty at `start`
    world.clock.advance(3 / budget.rate)  # a token and a half per lane passed while it waited
    grant = gate.take(budget, start)  # the caller read its clock before queueing for the lock
    assert grant.granted
    assert grant.state.lane(Lane.NEW).bucket.updated_at == world.clock.now


def _empty(refill_from: float) -> FairState:
    """Both lanes empty, refilling from `refill_from` (a back-off pushes that ahead)."""
    return FairState(
        LaneState(BucketState(0.0, refill_from)), LaneState(BucketState(0.0, refill_from))
    )


def test_under_the_sweepers_allowance_a_poll_takes_no_token_until_a_429_ends_it(world):
    gate = world.runtime.relay.gate
    gate.settings = replace(world.runtime.settings, sweep_enabled=True)
    table = CoordinationTable(world.ddb, world.table)
    assert table.write_allowance(Allowance(world.clock.now + 100.0), Allowance())
    first, second = "unmetered-1", "throttled-2"
    world.fox_orders(first, fox_reply(first, "completed", ("C",)))
    world.send(json.dumps({"v": 1, "order_id": first}))
    [record] = world.receive()
    assert process(world, [record]) == ["order.delivered"]
    assert table.read_bucket().version == 0  # no token taken

    world.fox_orders(second, httpx.Response(429, headers={"Retry-After": "30"}))
    world.send(json.dumps({"v": 1, "order_id": second}))
    [record] = world.receive()
    [result] = process(world, [record])
    assert result.reason == "throttled"
    coverage = table.read_coverage()
    assert coverage is not None and not coverage.allowance.unmetered(world.clock.now)
    assert abs(coverage.allowance.revoked_at - world.clock.now) < 0.01
    # back to the bucket, whose back-off the 429 wrote: the next poll waits for a token
    checked = gate.check(age=1.0, elapsed=1.0, now=world.clock.now + 1.0)
    assert not checked.poll and checked.reason is GateReason.BUDGET
