"""With nothing in flight the sweeper neither lists nor keeps running (in-process moto + respx)."""

from __future__ import annotations

import asyncio

from relay.adapters.ledger_queries import LedgerQueries
from relay.service.sweeper import Sweeper
from tests.unit.service.relay_world import FOX


def _sweeper(world) -> Sweeper:
    deps = world.runtime.relay.deps
    deps.unfinished_between = LedgerQueries(world.ddb, world.table).unfinished_between
    return Sweeper(deps)


def test_an_idle_relay_does_not_list_and_the_run_ends_at_once(world):
    listing = world.router.get(f"{FOX}/api/orders/").respond(200, json={"items": []})
    sweeper = _sweeper(world)
    stats = asyncio.run(sweeper.run(until=world.clock.now + 60))
    assert stats.idle
    assert (stats.sweeps, stats.pages) == (0, 0)
    assert listing.call_count == 0


def test_an_unfinished_order_within_reach_wakes_the_sweep(world):
    listing = world.router.get(f"{FOX}/api/orders/").respond(200, json={"items": []})
    ledger = world.runtime.relay.deps.ledger
    ledger.touch(
        "in-flight-1", sent_at=world.clock.now - 30, storefront_ref=None, now=world.clock.now
    )
    sweeper = _sweeper(world)
    # one sweep, then the run ends: `until` lies within the first sweep's interval
    stats = asyncio.run(sweeper.run(until=world.clock.now + 0.5))
    assert not stats.idle
    assert stats.sweeps >= 1
    assert listing.call_count >= 1


def test_orders_beyond_the_sweeps_reach_do_not_count(world):
    ledger = world.runtime.relay.deps.ledger
    queries = LedgerQueries(world.ddb, world.table)
    sweeper = _sweeper(world)
    reach = sweeper.config.max_horizon + sweeper.config.max_interval
    now = world.clock.now
    # per-order polls' business
    ledger.touch("long-ago", sent_at=now - reach - 60, storefront_ref=None, now=now)
    assert not sweeper.anything_in_flight(now)
    ledger.touch("recent", sent_at=now - 10, storefront_ref=None, now=now)
    assert queries.unfinished_between(now - reach, now) == 1
    assert sweeper.anything_in_flight(now)
