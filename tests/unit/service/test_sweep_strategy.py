"""The sweeper sweeps only where that pays: at a few orders an hour it leaves them to per-order
polling; a burst, an unknown completion time or `sweep_strategy=always` keeps it sweeping
(in-process moto + respx, the world's real ledger and acceptance index)."""

from __future__ import annotations

import asyncio
import dataclasses

from relay.adapters.coordination import CoordinationTable
from relay.adapters.ledger import TerminalSight
from relay.domain.poll_allowance import LEASE_SECONDS, Allowance
from relay.domain.stuck_orders import LedgerOrder
from relay.domain.sweep_economics import Strategy
from relay.names import Ledger
from relay.service.sweep_strategy import StrategyChooser
from relay.service.sweeper import Sweeper
from tests.unit.service.relay_world import FOX


def _history(world, done: int, spread: float, in_flight: int = 1, took: float = 20.0) -> None:
    """`done` orders accepted over the last `spread` seconds and seen terminal after `took`
    seconds, and `in_flight` accepted 5 s ago."""
    ledger = world.runtime.relay.deps.ledger
    now = world.clock.now
    for i in range(done):
        accepted = now - spread + i * spread / max(1, done)
        ledger.touch(f"done-{i}", sent_at=accepted, storefront_ref=None, now=accepted)
        ledger.note_terminal(f"done-{i}", TerminalSight(seen_at=accepted + took))
        world.ddb.update_item(
            TableName=world.table,
            Key={Ledger.PARTITION_KEY: {"S": f"done-{i}"}},
            UpdateExpression="SET #o = :o",
            ExpressionAttributeNames={"#o": Ledger.OUTCOME},
            ExpressionAttributeValues={":o": {"S": "delivered"}},
        )
    for i in range(in_flight):
        ledger.touch(f"open-{i}", sent_at=now - 5, storefront_ref=None, now=now)


def _run(world, **settings) -> tuple[object, int]:
    listing = world.router.get(f"{FOX}/api/orders/").respond(200, json={"items": []})
    deps = world.runtime.relay.deps
    if settings:
        deps = dataclasses.replace(deps, settings=dataclasses.replace(deps.settings, **settings))
    stats = asyncio.run(Sweeper(deps).run(until=world.clock.now + 0.5))
    return stats, listing.call_count


def test_a_few_orders_an_hour_are_left_to_per_order_polling(world):
    _history(world, done=10, spread=840)  # ~40 orders/h, each done in 20 s
    stats, listed = _run(world)
    assert stats.idle and stats.per_order
    assert listed == 0 and stats.sweeps == 0


def test_the_same_orders_are_swept_when_the_strategy_is_always(world):
    _history(world, done=10, spread=840)
    stats, listed = _run(world, sweep_strategy="always")
    assert not stats.idle and stats.sweeps >= 1 and listed >= 1


def test_a_burst_is_swept(world):
    _history(world, done=150, spread=100)  # 150 orders in the last 100 s: 5,400/h right now
    stats, listed = _run(world)
    assert not stats.per_order and stats.sweeps >= 1 and listed >= 1


def test_orders_that_have_not_completed_yet_are_swept(world):
    """Nothing seen terminal: the forecast cannot bound the lag, so the sweep stays."""
    _history(world, done=0, spread=600, in_flight=3)
    stats, listed = _run(world)
    assert not stats.per_order and listed >= 1


def test_nothing_in_flight_is_idle_not_per_order(world):
    _history(world, done=10, spread=840, in_flight=0)
    stats, listed = _run(world)
    assert stats.idle and not stats.per_order and listed == 0


def _orders(n: int, now: float, age_span: float, took: float) -> list[LedgerOrder]:
    return [
        LedgerOrder(
            order_id=f"o{i}",
            accepted_at=now - age_span + i * age_span / n,
            outcome="delivered",
            outcome_at=None,
            terminal_seen_at=now - age_span + i * age_span / n + took,
            total_price=None,
            cancel_reason=None,
            dead_lettered_at=None,
        )
        for i in range(n)
    ]


def test_the_rate_is_the_higher_of_the_recent_and_the_long_one(world):
    chooser = StrategyChooser(world.runtime.settings, world.runtime.relay.policy)
    now = world.clock.now
    steady = _orders(225, now, 900, 10)  # 900/h over 15 min
    assert abs(chooser.arrivals_per_hour(steady, now) - 900) < 40
    burst = _orders(100, now, 60, 10)  # 100 in the last minute
    assert chooser.arrivals_per_hour(burst, now) >= 3000
    slow = chooser.choose(_orders(40, now, 900, 20), now, sweeping=True)
    assert slow.strategy is Strategy.PER_ORDER
    busy = chooser.choose(_orders(1500, now, 900, 20), now, sweeping=True)
    assert busy.strategy is Strategy.SWEEP


def _allowance(world):
    coverage = CoordinationTable(world.ddb, world.table).read_coverage()
    return coverage.allowance if coverage is not None else None


def test_per_order_polling_at_a_low_load_is_granted_unmetered_polls(world):
    _history(world, done=10, spread=840)
    stats, _ = _run(world)
    assert stats.per_order
    allowance = _allowance(world)
    assert allowance is not None and allowance.unmetered(world.clock.now)
    assert not allowance.unmetered(world.clock.now + LEASE_SECONDS + 0.01)  # a lease: looks renew it


def test_a_sweep_ends_the_allowance_and_a_recent_429_keeps_it_off(world):
    _history(world, done=10, spread=840)
    _run(world)
    assert _allowance(world).unmetered(world.clock.now)
    _run(world, sweep_strategy="always")  # always sweeping: the allowance stays as it was...
    _history(world, done=150, spread=100)  # ...but a burst (a sweep under `auto`) ends it
    stats, _ = _run(world)
    assert not stats.per_order
    assert not _allowance(world).unmetered(world.clock.now)

    CoordinationTable(world.ddb, world.table).revoke_allowance(world.clock.now)
    world.clock.now += 60.0
    assert not _allowance(world).unmetered(world.clock.now)


def test_the_sweeper_does_not_grant_over_a_429_that_came_since_it_read(world):
    """The grant is conditional on the revocation it read: a poller's 429 in between stands
    (on DynamoDB Local too: tests/integration/test_ledger_races.py)."""
    table = CoordinationTable(world.ddb, world.table)
    read = Allowance()
    table.revoke_allowance(world.clock.now)
    assert not table.write_allowance(Allowance(world.clock.now + 100.0), read)
    assert not _allowance(world).unmetered(world.clock.now)
