"""The attempt log in the ledger: written by the writes that already end each attempt (release
after a retry, mark_terminal after acceptance), bounded, with the actor, the answer and the
latency; and never a code."""

from __future__ import annotations

import asyncio
import json

import httpx

from relay.adapters.ledger import attempts_of
from relay.domain.attempt_log import MAX_ATTEMPTS_KEPT, Actor
from relay.domain.events import Event
from relay.domain.foxreload_order import parse_order
from relay.domain.results import DeliveryOutcome
from relay.names import Ledger
from relay.service.delivery import Delivery
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import SINK, fox_reply, make_visible, order_json, process

OID = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
CODES = ("GIFT-AAAA-1111", "GIFT-BBBB-2222")
BODY = json.dumps({"v": 1, "order_id": OID, "storefront_ref": "cart-42"})


def _run_until_delivered(world, rounds: int) -> list[object]:
    results = []
    world.send(BODY)
    [record] = world.receive()
    for _ in range(rounds):
        [result] = process(world, [record])
        results.append(result)
        if not isinstance(result, Rescheduled):
            break
        world.clock.advance(61.0)  # past the breaker's probe interval too
        make_visible(world, record)
        [record] = world.receive()
    return results


def test_the_log_keeps_the_newest_attempts_and_never_a_code(world):
    failures = 13
    world.storefront.statuses = [503] * failures + [200]
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", CODES)
    )
    results = _run_until_delivered(world, 4 * failures)
    assert results[-1] == "order.delivered"
    assert len(world.storefront.requests) == failures + 1

    item = world.ledger_item(OID)
    log = attempts_of(item)
    assert len(log) == MAX_ATTEMPTS_KEPT
    total = failures + 1
    assert [a.number for a in log] == list(range(total - MAX_ATTEMPTS_KEPT + 1, total + 1))
    assert [a.status_code for a in log] == [503] * (MAX_ATTEMPTS_KEPT - 1) + [200]
    assert {a.actor for a in log} == {Actor.POLLER}
    assert all(a.failure is None and a.latency_ms >= 0 for a in log)
    assert [a.at for a in log] == sorted(a.at for a in log)
    assert int(item[Ledger.LAST_ATTEMPT]["N"]) == total

    stored = json.dumps(item)
    for code in CODES:
        assert code not in stored
    assert "whsec" not in stored.lower() and "SECRET" not in stored


def test_a_transport_failure_is_logged_with_its_kind(world):
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", CODES)
    )
    world.router.post(SINK).mock(side_effect=httpx.ConnectError("refused"))
    results = _run_until_delivered(world, 1)
    assert isinstance(results[0], Rescheduled)
    [attempt] = attempts_of(world.ledger_item(OID))
    assert (attempt.number, attempt.status_code, attempt.failure) == (1, None, "connection")
    assert attempt.actor == Actor.POLLER
    assert world.ledger_item(OID).get(Ledger.LEASE_OWNER) is None  # released in the same write


def test_the_sweeper_is_named_as_the_actor(world):
    d = world.runtime.relay.deps
    now = world.clock()
    d.ledger.touch(OID, sent_at=now - 60, storefront_ref="cart-42", now=now)
    order = parse_order(order_json(OID, "completed", CODES))
    result = asyncio.run(
        Delivery(d).deliver(order, Event.DELIVERED, "cart-42", now, now - 60, actor=Actor.SWEEPER)
    )
    assert result.outcome is DeliveryOutcome.DELIVERED
    [attempt] = attempts_of(world.ledger_item(OID))
    assert (attempt.actor, attempt.status_code) == (Actor.SWEEPER, 200)
    assert d.ledger.get(OID).attempt_log == (attempt,)
