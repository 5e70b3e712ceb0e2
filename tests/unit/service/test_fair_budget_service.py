"""The fair budget through the real poller and sweeper code (in-process moto + respx)."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace

from relay.adapters.coordination import CoordinationTable
from relay.domain.events import Event
from relay.domain.fair_budget import SHARE_STEP, FairState, LaneState
from relay.domain.rate_budget import BucketState
from relay.domain.sweep import SweepPlan
from relay.names import Metric
from relay.service.order_relay import Rescheduled
from relay.service.poll_gate import budget_split
from relay.service.sweeper import Sweeper, SweepStats
from tests.unit.service.relay_world import fox_reply, process

PLAN = SweepPlan(interval=5.0, max_pages=1, horizon=300.0, status_filter=None, page_limit=100)


def _receive(world, count: int):
    records = []
    while len(records) < count:
        records += world.receive()
    return records


def test_a_redrive_larger_than_the_burst_leaves_new_orders_a_token(world):
    """Fourteen redriven orders (accepted long before the supplier deadline) arrive at once and
    ask for more than the whole burst; an order accepted just now still gets its poll."""
    deadline = world.runtime.settings.give_up_after_seconds
    old_ids = [f"redriven-{i:02d}" for i in range(14)]
    ledger = world.runtime.relay.deps.ledger
    for order_id in old_ids:
        world.fox_orders(order_id, fox_reply(order_id, "processing"))
        ledger.touch(
            order_id,
            sent_at=world.clock.now - 2 * deadline,
            storefront_ref=None,
            now=world.clock.now,
        )
        world.send(json.dumps({"v": 1, "order_id": order_id}))
    results = process(world, _receive(world, len(old_ids)))
    waited = [r for r in results if isinstance(r, Rescheduled) and r.reason == "budget"]
    assert waited  # the redrive alone asked for more than the burst

    new_id = "fresh-01"
    route = world.fox_orders(new_id, fox_reply(new_id, "completed", ("C",)))
    world.send(json.dumps({"v": 1, "order_id": new_id}))
    assert process(world, _receive(world, 1)) == [Event.DELIVERED]
    assert route.call_count == 1


def _sweeping(world):
    """The world's relay with its sweep on, a sweeper, the coordination table, and a starved
    and an idle lane as of now."""
    settings = replace(world.runtime.settings, sweep_enabled=True)
    deps = world.runtime.relay.deps
    deps.settings = settings
    now = world.clock.now
    starved = LaneState(BucketState(0.0, now), starved_at=now - 1)
    idle = LaneState(BucketState(0.0, now))
    return settings, Sweeper(deps), CoordinationTable(world.ddb, world.table), starved, idle


def test_the_sweeper_lends_its_share_while_old_orders_are_refused_and_publishes_it(world):
    settings, sweeper, coordination, starved, idle = _sweeping(world)
    now = world.clock.now
    ceiling = settings.sweep_budget_share

    # New orders refused (just beyond the sweep's horizon at high load): the sweeper keeps its
    # share, since a smaller one would only push the horizon in.
    assert coordination.write_bucket(FairState(new=starved, old=idle), 0)
    sweeper.adapt_share(now)
    assert sweeper.share == ceiling

    # Orders past the deadline refused (a redrive, an outage's backlog): it lends.
    assert coordination.write_bucket(FairState(new=idle, old=starved), 1)
    sweeper.adapt_share(now)
    assert sweeper.share < ceiling
    assert sweeper.budget.rate < budget_split(settings).sweeper.rate
    world.router.get(f"{world.runtime.settings.foxreload_base_url}/api/orders/").respond(
        200, json={"items": []}
    )
    asyncio.run(sweeper.sweep_once(PLAN, now, SweepStats(), None))
    published = coordination.read_coverage()
    assert published is not None and published.sweep_share == sweeper.share

    # The pollers read the published share: their per-order budget is larger than the default.
    gate = world.runtime.relay.gate
    gate.settings = settings
    lent = gate.per_order_budget(published)
    assert lent == budget_split(settings, published.sweep_share).per_order
    assert lent.rate > gate.per_order_budget(replace(published, sweep_share=None)).rate
    assert gate.per_order_budget(None) == gate.split.whole  # no running sweep: the whole key

    # Once nobody is refused any more, the share comes back a step per sweep.
    later = now + 120
    fed = LaneState(BucketState(1.0, later))
    assert coordination.write_bucket(FairState(fed, fed), coordination.read_bucket().version)
    before = sweeper.share
    sweeper.adapt_share(later)
    assert before < sweeper.share <= ceiling
    assert Metric.BUDGET_WAITS not in world.metrics.counts


def test_a_sweeper_whose_plan_needs_its_whole_share_lends_one_step_of_it(world):
    settings, sweeper, coordination, starved, idle = _sweeping(world)
    now = world.clock.now
    assert coordination.write_bucket(FairState(new=idle, old=starved), 0)
    ceiling = settings.sweep_budget_share

    sweeper.wanted_share = ceiling  # its last plan needs its whole share for its lag target
    for _ in range(5):
        sweeper.adapt_share(now)
    assert math.isclose(sweeper.share, ceiling * SHARE_STEP)

    sweeper.wanted_share = ceiling / 10  # a light plan: the rest is lent, down to half
    for _ in range(40):
        sweeper.adapt_share(now)
    assert sweeper.share == ceiling / 2
