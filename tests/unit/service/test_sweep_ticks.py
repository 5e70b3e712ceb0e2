"""With a tick queue the sweeper sweeps once a run and sends the next sweep as a delayed tick,
so no run sleeps (billed) through a pause. One chain sweeps at a time: a duplicate tick, a tick
of a chain whose lease was taken over and a scheduled run beside a live chain all end without
sweeping (in-process moto + respx)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

import pytest

from relay.adapters.coordination import SWEEPER_LEASE_KEY
from relay.adapters.ledger_queries import LedgerQueries
from relay.adapters.sweep_ticks import SweepTicks
from relay.domain.sweep_tick import MAX_DELAY_SECONDS, MalformedTick, Tick, delay_seconds
from relay.names import Ledger
from relay.service.sweeper import Sweeper
from tests.unit.service.relay_world import FOX


class RecordedTicks(SweepTicks):
    """The real adapter (moto holds each message back by its delay), remembering what it sent."""

    def __init__(self, client, url):
        super().__init__(client, url)
        self.sent: list[tuple[Tick, float]] = []

    def send(self, tick, pause):
        self.sent.append((tick, pause))
        super().send(tick, pause)


@pytest.fixture
def chain(world):
    url = world.sqs.create_queue(QueueName="sweep-ticks")["QueueUrl"]
    deps = world.runtime.relay.deps
    owners = (f"owner-{i}" for i in itertools.count())
    deps = dataclasses.replace(
        deps,
        ticks=RecordedTicks(world.sqs, url),
        unfinished_between=LedgerQueries(world.ddb, world.table).unfinished_between,
        new_owner=lambda: next(owners),
    )
    listing = world.router.get(f"{FOX}/api/orders/").respond(200, json={"items": []})
    return deps, url, listing


def _ticks(deps):
    return [tick for tick, _ in deps.ticks.sent]


def _in_flight(world):
    world.runtime.relay.deps.ledger.touch(
        "open-1", sent_at=world.clock.now - 5, storefront_ref=None, now=world.clock.now
    )


def _lease(world):
    item = world.ddb.get_item(
        TableName=world.table, Key={Ledger.PARTITION_KEY: {"S": SWEEPER_LEASE_KEY}}
    ).get("Item", {})
    return item.get("lease_owner", {}).get("S")


def test_a_scheduled_run_sweeps_once_and_sends_the_next_sweep(world, chain):
    deps, url, listing = chain
    _in_flight(world)
    stats = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    assert stats.sweeps == 1 and stats.chained
    assert listing.call_count == 1
    [tick] = _ticks(deps)
    assert tick.turn == 0 and tick.owner.startswith("owner-")
    assert tick.looked_at == world.clock.now  # the in-flight check is not repeated each sweep
    assert _lease(world) == tick.owner  # kept for the tick's run


def test_the_tick_continues_the_chain_once_and_a_duplicate_is_dropped(world, chain):
    deps, url, listing = chain
    _in_flight(world)
    asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    [tick] = _ticks(deps)
    world.clock.now += 5
    second = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60, tick=tick))
    assert second.sweeps == 1 and second.chained
    again = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60, tick=tick))
    assert again.turn_taken and again.sweeps == 0  # SQS delivered it twice: no second chain
    assert listing.call_count == 2
    assert [t.turn for t in _ticks(deps)] == [0, 1]


def test_a_scheduled_run_beside_a_live_chain_does_nothing(world, chain):
    deps, url, listing = chain
    _in_flight(world)
    asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    world.clock.now += 1
    beside = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    assert beside.turn_taken and beside.sweeps == 0
    assert listing.call_count == 1
    assert _lease(world) == _ticks(deps)[0].owner


def test_a_lapsed_chain_is_taken_over_and_its_late_tick_ends(world, chain):
    deps, url, listing = chain
    _in_flight(world)
    sweeper = Sweeper(deps)
    asyncio.run(sweeper.run(until=world.clock.now + 60))
    [late] = _ticks(deps)
    world.clock.now += sweeper.lease_seconds() + 1  # the tick was lost for longer than the lease
    _in_flight(world)
    taken = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    assert taken.chained and _lease(world) not in (None, late.owner)
    stale = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60, tick=late))
    assert stale.turn_taken and stale.sweeps == 0


def test_with_nothing_in_flight_the_chain_ends_and_lets_go_of_the_lease(world, chain):
    deps, url, listing = chain
    stats = asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    assert stats.idle and not stats.chained
    assert _ticks(deps) == []
    assert _lease(world) is None
    assert listing.call_count == 0


def test_the_pause_becomes_the_ticks_delay(world, chain):
    deps, url, _ = chain
    _in_flight(world)
    asyncio.run(Sweeper(deps).run(until=world.clock.now + 60))
    [(_, pause)] = deps.ticks.sent
    assert pause >= Sweeper(deps).config.min_interval - 0.5  # the sweep itself took a moment
    # SQS holds the message back for the pause: nothing to receive yet
    reply = world.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    assert "Messages" not in reply


@pytest.mark.parametrize(
    ("pause", "delay"), [(0.0, 0), (-3.0, 0), (0.2, 1), (2.0, 2), (2.01, 3), (1e9, MAX_DELAY_SECONDS)]
)
def test_delays_are_whole_seconds_never_early(pause, delay):
    assert delay_seconds(pause) == delay


@pytest.mark.parametrize(
    "body",
    ["", "[]", '{"v": 2, "owner": "a", "turn": 0}', '{"v": 1, "owner": "", "turn": 0}',
     '{"v": 1, "owner": "a", "turn": -1}', '{"v": 1, "owner": "a", "turn": true}',
     '{"v": 1, "owner": "a", "turn": 0, "looked_at": "x"}'],
)
def test_a_message_the_sweeper_did_not_write_is_malformed(body):
    with pytest.raises(MalformedTick):
        Tick.from_body(body)


def test_a_tick_round_trips():
    tick = Tick("o", 3, 12.5, 99.0)
    assert Tick.from_body(tick.to_body()) == tick
