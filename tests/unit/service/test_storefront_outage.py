"""A storefront outage with many orders in flight: the breaker opens, parked orders cost no
FoxReload request and no webhook, one probe at a time tests the storefront, and after the
recovery every order is delivered exactly once with nothing dead-lettered
(in-process moto for the ledger, respx, and the queue played on the test clock; the local stack's version is tests/integration/test_stress_edges.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx

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
    world.runtime.relay.d.queue = queue
    records = [
        QueueRecord(f"m-{i}", f"h-{i}", json.dumps({"v": 1, "order_id": o}), 0, world.clock.now)
        for i, o in enumerate(ORDERS)
    ]

    results = drive(world, records, until=world.clock.now + OUTAGE_SECONDS + 3600)

    assert sorted(results.values()) == ["order.delivered"] * len(ORDERS)
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
