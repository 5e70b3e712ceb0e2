"""A storefront outage with many orders in flight: the breaker opens, parked orders cost no
FoxReload request and no webhook, one probe at a time tests the storefront, and after the
recovery every order is delivered exactly once with nothing dead-lettered
(in-process moto for the ledger, respx, and the queue played on the test clock; the local stack's version is tests/integration/test_stress_edges.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx

from relay.domain.events import Event
from relay.domain.results import Settled
from relay.domain.storefront_breaker import BreakerConfig
from relay.names import Metric
from relay.service.order_relay import QueueRecord, Rescheduled
from tests.unit.service.relay_world import FOX, SINK, order_json, process

ORDERS = [f"5f0e{i:04d}-1111-4222-8333-444455556666" for i in range(8)]
OUTAGE_SECONDS = 3600.0


class ClockQueue:
    """The orders queue played on the test clock (SQS's own visibility runs on real time): a
    rescheduled message is due again after its delay; a dead letter is kept."""

    def __init__(self) -> None:
        self.dead: list[tuple[str, object]] = []

    def reschedule(self, receipt_handle: str, visibility_seconds: int) -> None:
        pass  # the driver below keeps the due times

    def dead_letter(self, body: str, why: object) -> None:
        self.dead.append((body, why))


def drive(world, records: list[QueueRecord], until: float) -> dict[str, object]:
    """Process every message when it is due, ten at a time, until all settle."""
    due = {r.message_id: (world.clock.now, r) for r in records}
    results: dict[str, object] = {}
    while due and world.clock.now < until:
        world.clock.now = max(world.clock.now, min(t for t, _ in due.values()))
        ready = sorted(
            (r for t, r in due.values() if t <= world.clock.now), key=lambda r: r.message_id
        )[:10]
        ready = [replace(r, receive_count=r.receive_count + 1) for r in ready]
        for record, result in zip(ready, process(world, ready), strict=True):
            assert not isinstance(result, BaseException) or isinstance(result, Rescheduled), result
            if isinstance(result, Rescheduled):
                due[record.message_id] = (world.clock.now + result.delay, record)
            else:
                results[record.message_id] = result
                del due[record.message_id]
    return results


def test_an_outage_parks_orders_probes_once_at_a_time_and_drains_after_recovery(world):
    fox_calls = {order_id: 0 for order_id in ORDERS}

    def foxreload(request: httpx.Request) -> httpx.Response:
        order_id = request.url.path.rsplit("/", 1)[-1]
        fox_calls[order_id] += 1
        return httpx.Response(200, json=order_json(order_id, "completed", (f"CODE-{order_id}",)))

    world.router.get(url__startswith=f"{FOX}/api/orders/").mock(side_effect=foxreload)
    recovered_at = world.clock.now + OUTAGE_SECONDS
    attempts_during_outage: list[float] = []

    def storefront(request: httpx.Request) -> httpx.Response:
        if world.clock.now < recovered_at:
            attempts_during_outage.append(world.clock.now)
            return httpx.Response(503)
        return world.storefront(request)

    world.router.post(SINK).mock(side_effect=storefront)
    queue = ClockQueue()
    world.runtime.relay.deps.queue = queue
    records = [
        QueueRecord(f"m-{i}", f"h-{i}", json.dumps({"v": 1, "order_id": o}), 0, world.clock.now)
        for i, o in enumerate(ORDERS)
    ]

    results = drive(world, records, until=world.clock.now + OUTAGE_SECONDS + 3600)

    assert sorted(results.values()) == [Event.DELIVERED] * len(ORDERS)
    assert sorted(d["order_id"] for d in world.storefront.deliveries) == sorted(ORDERS)
    assert queue.dead == []
    # Hammering avoided: the threshold's failures, then about one probe per probe interval.
    config = BreakerConfig()
    probes = config.failure_threshold + OUTAGE_SECONDS / config.probe_interval
    assert len(attempts_during_outage) <= probes + len(ORDERS)
    # Parked orders do not re-read their codes: FoxReload is asked once per order seen
    # terminal, once per probe (a probe is a real delivery) and once per delivery after it.
    parked = world.metrics.counts[Metric.DELIVERIES_PARKED]
    assert parked > 5 * len(ORDERS)
    assert sum(fox_calls.values()) <= probes + 2 * len(ORDERS)
    assert world.metrics.counts[Metric.STOREFRONT_UNAVAILABLE] > 0


def _completed_at_foxreload(world) -> None:
    def foxreload(request: httpx.Request) -> httpx.Response:
        order_id = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=order_json(order_id, "completed", (f"CODE-{order_id}",)))

    world.router.get(url__startswith=f"{FOX}/api/orders/").mock(side_effect=foxreload)


def _records(world, orders: list[str], tag: str) -> list[QueueRecord]:
    return [
        QueueRecord(
            f"{tag}-{i}", f"h-{tag}-{i}", json.dumps({"v": 1, "order_id": o}), 0, world.clock.now
        )
        for i, o in enumerate(orders)
    ]


def _reasons(queue: ClockQueue) -> list[str]:
    return [why.reason for _, why in queue.dead]  # type: ignore[attr-defined]


def test_an_outage_past_the_delivery_window_dead_letters_every_parked_order_when_it_closes(world):
    """Parked orders end like retried ones: once the window has closed they are dead-lettered
    as webhook_unavailable (paged, redrivable), not left parked until a probe happens to be
    theirs, one per probe interval, or until the queue's retention deletes them."""
    window = 600.0
    relay = world.runtime.relay
    relay.limits = replace(relay.limits, delivery_window=window)
    orders = [f"6a1f{i:04d}-1111-4222-8333-444455556666" for i in range(40)]
    _completed_at_foxreload(world)
    world.router.post(SINK).mock(return_value=httpx.Response(503))
    queue = ClockQueue()
    relay.deps.queue = queue
    started = world.clock.now

    # Past the window: a parked order at its next return (the next probe, 1 s, a spread of a
    # tenth of the outage); a failed probe at its next retry (at most 1.25 x the 300 s cap).
    # Before, only probes ended: one order per 30 s probe interval.
    results = drive(world, _records(world, orders, "m"), until=started + window + 400)

    assert sorted(results.values()) == [Settled.DEAD_LETTERED] * len(orders)
    assert _reasons(queue) == ["webhook_unavailable"] * len(orders)
    assert world.storefront.deliveries == []


def test_a_redrive_after_the_delivery_window_gets_a_fresh_one(world):
    """A webhook_unavailable order redriven once the storefront is back: the redriven message
    may meet the breaker still open (parked) and a storefront that fails a few times while it
    warms up; it is retried within a window counted from the redrive, as the supplier deadline
    is, not dead-lettered again at once because the first window closed long ago."""
    window = 600.0
    relay = world.runtime.relay
    relay.limits = replace(relay.limits, delivery_window=window)
    orders = ORDERS
    _completed_at_foxreload(world)
    down = world.router.post(SINK).mock(return_value=httpx.Response(503))
    queue = ClockQueue()
    relay.deps.queue = queue
    drive(world, _records(world, orders, "m"), until=world.clock.now + 2 * window)
    assert _reasons(queue) == ["webhook_unavailable"] * len(orders)

    world.clock.advance(3600)  # the storefront is fixed an hour later, then the DLQ redriven
    warming_up = [httpx.Response(503)] * 2
    down.mock(
        side_effect=lambda request: warming_up.pop() if warming_up else world.storefront(request)
    )
    results = drive(world, _records(world, orders, "redriven"), until=world.clock.now + window)

    assert sorted(results.values()) == [Event.DELIVERED] * len(orders)
    assert _reasons(queue) == ["webhook_unavailable"] * len(orders)  # nothing new
    assert sorted(d["order_id"] for d in world.storefront.deliveries) == sorted(orders)
