"""A crash at any line loses no order and never sends twice while a lease is live."""

from __future__ import annotations

import asyncio
import json
import threading

from relay.domain.events import Event
from relay.domain.results import Settled
from relay.names import Metric
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import fox_reply, make_visible, process

OID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
BODY = json.dumps({"v": 1, "order_id": OID})
KEY = f"{OID}:order.delivered"


class Crash(BaseException):
    """Stands in for the process dying: nothing after it runs."""


def crash_once(target, name, after_real_call=False):
    real = getattr(target, name)
    state = {"crashed": False}

    def wrapper(*args, **kwargs):
        if state["crashed"]:
            return real(*args, **kwargs)
        state["crashed"] = True
        if after_real_call:
            real(*args, **kwargs)
        raise Crash(name)

    async def async_wrapper(*args, **kwargs):
        if state["crashed"]:
            return await real(*args, **kwargs)
        state["crashed"] = True
        raise Crash(name)

    setattr(target, name, async_wrapper if asyncio.iscoroutinefunction(real) else wrapper)


def completed(world):
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", ("CODE-1",))
    )


def run_until_settled(world, record, max_rounds=10):
    """Redeliver the message (time passes) until it is deleted or dead-lettered."""
    results = []
    for _ in range(max_rounds):
        [result] = process(world, [record])
        results.append(result)
        if isinstance(result, str):
            return results
        # after a crash the message comes back soon (another batch, a shorter visibility)
        delay = result.delay if isinstance(result, Rescheduled) else 1
        make_visible(world, record)
        world.clock.advance(delay)
        [record] = world.receive()
    raise AssertionError(f"never settled: {results}")


def test_nothing_crashes_exactly_one_webhook(world):
    completed(world)
    world.send(BODY)
    [record] = world.receive()
    assert run_until_settled(world, record) == [Event.DELIVERED]
    assert world.storefront.keys == [KEY]


def test_crash_after_the_claim_before_the_webhook(world):
    completed(world)
    crash_once(world.runtime.relay.deps.sink, "send")
    world.send(BODY)
    [record] = world.receive()

    results = run_until_settled(world, record)

    assert isinstance(results[0], Crash)
    # An exception (unlike a killed process, which the ledger race tests cover) gives the lease
    # back on its way out: the next receive claims at once instead of waiting it out.
    assert not any(isinstance(r, Rescheduled) and r.reason == "lease_busy" for r in results)
    assert results[1] == Event.DELIVERED
    assert world.storefront.keys == [KEY]  # the crashed attempt never reached the storefront
    assert "lease_owner" not in world.ledger_item(OID)


def test_crash_after_the_webhook_was_accepted_before_the_mark(world):
    completed(world)
    crash_once(world.runtime.relay.deps.ledger, "mark_terminal")
    world.send(BODY)
    [record] = world.receive()

    results = run_until_settled(world, record)

    assert isinstance(results[0], Crash)
    assert results[-1] == Event.DELIVERED
    # at least once, and every repeat carries the same Idempotency-Key
    assert world.storefront.keys == [KEY, KEY]
    assert world.ledger_item(OID)["outcome"]["S"] == "delivered"


def test_crash_during_the_mark_after_it_was_written(world):
    completed(world)
    crash_once(world.runtime.relay.deps.ledger, "mark_terminal", after_real_call=True)
    world.send(BODY)
    [record] = world.receive()

    results = run_until_settled(world, record)

    assert isinstance(results[0], Crash)
    assert results[-1] == Settled.ALREADY_DONE  # the next attempt recognises the delivery
    assert world.storefront.keys == [KEY]


def test_crash_before_the_claim_loses_nothing(world):
    completed(world)
    crash_once(world.runtime.relay.deps.ledger, "claim")
    world.send(BODY)
    [record] = world.receive()
    results = run_until_settled(world, record)
    assert results[-1] == Event.DELIVERED
    assert world.storefront.keys == [KEY]


def test_two_messages_for_one_order_in_one_batch_give_one_webhook(world):
    async def slow_storefront(request):
        await asyncio.sleep(0.2)
        return world.storefront(request)

    world.router.routes.clear()
    world.router.post("http://storefront.test/hooks/foxreload").mock(side_effect=slow_storefront)
    completed(world)
    world.send(BODY)
    world.send(BODY)
    records = world.receive()
    assert len(records) == 2
    results = process(world, records)
    assert Event.DELIVERED in results
    assert world.storefront.keys == [KEY]
    for record, result in zip(records, results, strict=True):
        if isinstance(result, Rescheduled):
            make_visible(world, record)
            world.clock.advance(result.delay)
    for record in world.receive():
        assert process(world, [record]) == [Settled.ALREADY_DONE]
    assert world.storefront.keys == [KEY]


def test_two_concurrent_invocations_give_one_webhook(world):
    """Two event loops in two threads, like two Lambda instances holding one order each."""
    gate = threading.Barrier(2)

    completed(world)
    world.send(BODY)
    world.send(BODY)
    records = world.receive()
    assert len(records) == 2
    results: list[object] = [None, None]

    def invoke(i):
        gate.wait(timeout=5)
        try:
            results[i] = asyncio.run(world.runtime.relay.process(records[i]))
        except Rescheduled as exc:
            results[i] = exc

    threads = [threading.Thread(target=invoke, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results.count(Event.DELIVERED) == 1
    assert world.storefront.keys == [KEY]
    assert any(isinstance(r, Rescheduled) or r == Settled.ALREADY_DONE for r in results)
    # the loser was stopped at the ledger: before polling (settled) or at the claim (a race)
    counts = world.metrics.counts
    stopped = counts.get(Metric.SETTLED_ORDER_MESSAGES, 0) + counts.get(
        Metric.DUPLICATE_SUPPRESSED, 0
    )
    assert stopped == results.count(Settled.ALREADY_DONE)
