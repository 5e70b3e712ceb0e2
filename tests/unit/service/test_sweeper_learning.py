"""The sweeper's completion-age estimate: learned from its pages, kept across runs (moto)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx

from relay.adapters.coordination import COMPLETION_AGES_KEY
from relay.adapters.ledger_queries import LedgerQueries
from relay.domain.completion_age import CompletionAges, bin_of
from relay.domain.sweep import SweepPlan
from relay.names import Ledger
from relay.service.sweeper import Sweeper, SweepStats
from tests.unit.service.relay_world import FOX, order_json


def test_the_estimate_round_trips_and_an_older_one_never_replaces_a_newer_one(world):
    coordination = world.runtime.relay.deps.coordination
    assert coordination.read_completion_estimate() is None
    newer = CompletionAges().observe([(5.0, True), (40.0, False)], 2000.0)
    coordination.write_completion_estimate(newer)
    assert coordination.read_completion_estimate() == newer
    older = CompletionAges().observe([(5.0, False)] * 30, 1000.0)
    coordination.write_completion_estimate(older)
    assert coordination.read_completion_estimate() == newer


def test_an_unreadable_item_is_no_estimate(world):
    world.ddb.put_item(
        TableName=world.table,
        Item={Ledger.PARTITION_KEY: {"S": COMPLETION_AGES_KEY}, "ages": {"S": "garbage"}},
    )
    assert world.runtime.relay.deps.coordination.read_completion_estimate() is None


def test_a_run_learns_from_its_pages_and_the_next_sweeper_starts_from_it(world):
    now = world.clock.now
    created = [datetime.fromtimestamp(now - age, UTC).isoformat() for age in (5, 50, 120)]
    items = [
        {**order_json(f"1a2b3c4d-0000-4000-8000-00000000000{i}", status), "createdAt": c}
        for i, (status, c) in enumerate(
            zip(("processing", "completed", "completed"), created, strict=True)
        )
    ]
    date = format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True)
    world.router.get(f"{FOX}/api/orders/").mock(
        return_value=httpx.Response(200, json={"items": items}, headers={"Date": date})
    )
    deps = world.runtime.relay.deps
    deps.ledger.touch(
        "in-flight-1", sent_at=now - 30, storefront_ref=None, now=now
    )  # something to sweep for
    deps.unfinished_between = LedgerQueries(world.ddb, world.table).unfinished_between
    stats = asyncio.run(Sweeper(deps).run(until=now + 0.5))
    assert stats.sweeps >= 1
    saved = deps.coordination.read_completion_estimate()
    assert saved is not None and saved.weight() >= 3

    def around(age: float) -> range:  # the Date header has whole seconds: up to 1 s younger
        return range(bin_of(age - 1.0), bin_of(age) + 1)

    assert sum(saved.seen[i] for i in around(5.0)) > 0  # listed at 5 s...
    assert sum(saved.done[i] for i in around(5.0)) == 0  # ...still processing
    assert sum(saved.done[i] for i in around(50.0)) > 0  # completed
    assert sum(saved.done[i] for i in around(120.0)) > 0
    following = Sweeper(deps)
    asyncio.run(following.run(until=world.clock.now + 0.5))
    assert following.estimate is not None and following.estimate.weight() > saved.weight()


def test_a_probe_page_is_read_after_the_plan_and_learned_from_but_covers_nothing(world):
    """The plan reads page 1 (ages 0-100 s) and probes page 7 (ages 600-700 s): the sweeper
    asks for both, learns from the older one and delivers what it finds there, and publishes
    the coverage of page 1 alone."""
    now = world.clock.now
    date = format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True)
    probe_id = "1a2b3c4d-0000-4000-8000-0000000000ff"
    asked: list[str] = []

    def page_of(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        asked.append(str(number))
        base = (number - 1) * 100
        items = []
        for k in range(100):
            created = datetime.fromtimestamp(now - base - k, UTC).isoformat()
            order_id = probe_id if number == 7 and k == 0 else f"unknown-{number}-{k}"
            status = "completed" if number == 7 else "processing"
            items.append({**order_json(order_id, status, ("C",)), "createdAt": created})
        return httpx.Response(200, json={"items": items}, headers={"Date": date})

    world.router.get(f"{FOX}/api/orders/").mock(side_effect=page_of)
    deps = world.runtime.relay.deps
    deps.ledger.touch(probe_id, sent_at=now - 600, storefront_ref=None, now=now)
    plan = SweepPlan(
        interval=5.0,
        max_pages=1,
        horizon=100.0,
        status_filter=None,
        page_limit=100,
        probe_page=7,
    )
    sweeper = Sweeper(deps)
    asyncio.run(sweeper.sweep_once(plan, now, SweepStats(), None))

    assert asked == ["1", "7"]
    assert sweeper.estimate is not None
    assert sweeper.estimate.done[bin_of(650.0)] > 0  # learned at ages only the probe reads
    assert [d["order_id"] for d in world.storefront.deliveries] == [probe_id]
    coverage = deps.coordination.read_coverage()
    assert coverage is not None and coverage.horizon <= 100.0
    assert sweeper.state.probed_at == now
