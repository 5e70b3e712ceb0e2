"""The sweeper's delivery path under hostile replies and failures (in-process moto + respx)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx

from relay.domain.results import DeliveryOutcome
from relay.domain.sweep import SweepPlan
from relay.names import Ledger, Metric, api_error_metric
from relay.service.sweeper import Sweeper, SweepStats
from tests.unit.service.relay_world import FOX, order_json

A = "1a2b3c4d-0000-4000-8000-00000000000a"
B = "1a2b3c4d-0000-4000-8000-00000000000b"
PLAN = SweepPlan(interval=5.0, max_pages=1, horizon=300.0, status_filter=None, page_limit=100)


def accept(world, *order_ids: str) -> None:
    """The storefront's messages for these orders were received (the ledger knows them)."""
    for order_id in order_ids:
        world.runtime.relay.deps.ledger.touch(
            order_id, sent_at=world.clock.now - 30, storefront_ref=None, now=world.clock.now
        )


def list_page(world, *orders: dict[str, Any]) -> None:
    created = datetime.fromtimestamp(world.clock.now - 20, UTC).isoformat()
    items = [{**o, "createdAt": created} for o in orders]
    date = format_datetime(datetime.fromtimestamp(world.clock.now, UTC), usegmt=True)
    world.router.get(f"{FOX}/api/orders/").mock(
        return_value=httpx.Response(200, json={"items": items}, headers={"Date": date})
    )


def sweep(world, until: float | None = None) -> SweepStats:
    sweeper = Sweeper(world.runtime.relay.deps)
    stats = SweepStats()
    asyncio.run(sweeper.sweep_once(PLAN, world.clock.now, stats, until))
    return stats


def test_a_refetch_answered_about_another_order_is_never_delivered(world):
    accept(world, A)
    list_page(world, order_json(A, "completed"))  # listed without codes: the sweeper re-reads
    world.fox_orders(A, httpx.Response(200, json=order_json(B, "completed", ("NOT-YOURS",))))

    sweep(world)

    assert world.storefront.deliveries == []
    assert world.metrics.counts[api_error_metric("Malformed")] == 1
    assert Ledger.LEASE_OWNER not in world.ledger_item(A)


def test_an_order_the_relay_never_accepted_is_not_delivered(world):
    list_page(world, order_json(A, "completed", ("CODE",)))  # no message for A was received
    sweep(world)
    assert world.storefront.deliveries == []
    assert world.ledger_item(A) is None  # and nothing was written for it


def test_one_failing_order_does_not_end_the_sweep_or_leave_a_live_lease(world):
    accept(world, A, B)
    list_page(
        world, order_json(A, "completed", ("CODE-A",)), order_json(B, "completed", ("CODE-B",))
    )
    sink = world.runtime.relay.deps.sink
    real_send = sink.send

    async def failing_for_a(request, budget_seconds):
        if A.encode() in request.body:
            raise RuntimeError("boom")
        return await real_send(request, budget_seconds=budget_seconds)

    sink.send = failing_for_a  # type: ignore[method-assign]

    stats = sweep(world)

    assert [d["order_id"] for d in world.storefront.deliveries] == [B]
    assert stats.delivered == 1
    assert world.metrics.counts[Metric.SWEEP_RECORD_ERRORS] == 1
    assert Ledger.LEASE_OWNER not in world.ledger_item(A)  # released on the way out
    assert world.ledger_item(B)[Ledger.OUTCOME]["S"] == "delivered"


def test_no_delivery_starts_too_close_to_the_end_of_the_run(world):
    accept(world, A)
    list_page(world, order_json(A, "completed", ("CODE-A",)))

    stats = sweep(world, until=world.clock.now + 1.0)

    assert world.storefront.deliveries == []
    assert stats.outcomes == {DeliveryOutcome.NO_TIME: 1}
    assert Ledger.LEASE_OWNER not in world.ledger_item(A)


def test_a_day_long_retry_after_on_the_list_does_not_outlive_the_run(world):
    world.router.get(f"{FOX}/api/orders/").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "86400"})
    )
    sweeper = Sweeper(world.runtime.relay.deps)
    stats = SweepStats()
    asyncio.run(sweeper.sweep_once(PLAN, world.clock.now, stats, world.clock.now + 30))
    assert world.metrics.counts[Metric.LONG_BACK_OFFS] == 1
    # the next page waits for a token that comes after the run's end: it is not read
    assert asyncio.run(sweeper._token(world.clock.now + 30)) is False
