"""`redeliver ORDER_ID...` and `show --ref` against the relay's own world (moto + scripted
FoxReload and storefront): a redelivery sends the very body and Idempotency-Key of the first
delivery, is logged with actor operator, and a non-terminal order is refused with the reason."""

from __future__ import annotations

import json

import pytest

from operator_cli.cli import main
from operator_cli.target import Target
from relay.adapters.ledger import attempts_of
from relay.domain.attempt_log import Actor
from relay.names import Ledger
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import FOX, SINK, fox_reply, process

OID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CODES = ("FOX-CODE-0001", "FOX-CODE-0002")


@pytest.fixture
def target(world) -> Target:
    return Target(
        kind="aws",
        name="test",
        region="eu-west-1",
        orders_queue_url=world.queue_url,
        dlq_url=world.dlq_url,
        ledger_table=world.table,
        foxreload_base_url=FOX,
        api_key_secret="fox-key",
        webhook_url=SINK,
        webhook_secret="webhook-secret",
    )


def _first_delivery(world, status: int = 200, ref: str = "cart-9") -> object:
    world.storefront.statuses = [status]
    world.router.get(f"{FOX}/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", CODES)
    )
    world.send(json.dumps({"v": 1, "order_id": OID, "storefront_ref": ref}))
    [record] = world.receive()
    [result] = process(world, [record])
    return result


def test_redeliver_sends_the_first_body_under_the_same_key(world, target, capsys) -> None:
    assert _first_delivery(world) == "order.delivered"
    world.clock.advance(5.0)
    assert main(["redeliver", OID.upper()], target=target) == 0
    out = capsys.readouterr().out
    assert f"webhook-id {OID}:order.delivered" in out and "HTTP 200" in out

    first, again = world.storefront.requests
    assert again.content == first.content  # byte for byte
    for header in ("webhook-id", "Idempotency-Key"):
        assert again.headers[header] == first.headers[header] == f"{OID}:order.delivered"
    item = world.ledger_item(OID)
    log = attempts_of(item)
    assert [(a.number, a.actor, a.status_code) for a in log] == [
        (1, Actor.POLLER, 200),
        (2, Actor.OPERATOR, 200),
    ]
    assert item[Ledger.OUTCOME]["S"] == "delivered"
    stored = json.dumps(item)
    assert not any(code in stored for code in CODES)
    assert not any(code in out for code in CODES)


def test_an_undelivered_order_is_delivered_under_the_lease_and_recorded(
    world, target, capsys
) -> None:
    assert isinstance(_first_delivery(world, status=503), Rescheduled)
    assert Ledger.OUTCOME not in world.ledger_item(OID)
    assert main(["redeliver", OID], target=target) == 0  # the storefront answers 200 now
    assert "outcome recorded" in capsys.readouterr().out

    first, again = world.storefront.requests
    assert again.content == first.content
    assert again.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    item = world.ledger_item(OID)
    assert item[Ledger.OUTCOME]["S"] == "delivered"
    assert Ledger.LEASE_OWNER not in item
    assert [(a.actor, a.status_code) for a in attempts_of(item)] == [
        (Actor.POLLER, 503),
        (Actor.OPERATOR, 200),
    ]


def test_a_refused_redelivery_is_logged_and_exits_1(world, target, capsys) -> None:
    assert _first_delivery(world) == "order.delivered"
    world.storefront.statuses = [500]
    assert main(["redeliver", OID], target=target) == 1
    assert "HTTP 500" in capsys.readouterr().out
    assert attempts_of(world.ledger_item(OID))[-1].status_code == 500


def test_orders_that_are_not_terminal_are_refused_with_the_reason(world, target, capsys) -> None:
    unknown = "never-seen-order"
    world.router.get(f"{FOX}/api/orders/{OID}").mock(return_value=fox_reply(OID, "processing"))
    world.send(json.dumps({"v": 1, "order_id": OID}))
    [record] = world.receive()
    assert isinstance(process(world, [record])[0], Rescheduled)  # polled: still processing

    assert main(["redeliver", OID, unknown], target=target) == 1
    out = capsys.readouterr().out
    assert f"order {OID}: refused: {OID}: not terminal" in out
    assert f"order {unknown}: refused" in out and "never accepted" in out

    # the ledger saw it terminal once, but FoxReload says otherwise: FoxReload is asked, refused
    world.ddb.update_item(
        TableName=world.table,
        Key={Ledger.PARTITION_KEY: {"S": OID}},
        UpdateExpression="SET #seen = :seen",
        ExpressionAttributeNames={"#seen": Ledger.TERMINAL_SEEN_AT},
        ExpressionAttributeValues={":seen": {"N": "1700000000.000"}},
    )
    assert main(["redeliver", OID], target=target) == 1
    assert "not terminal: FoxReload says it is 'processing'" in capsys.readouterr().out
    assert world.storefront.requests == []
    assert Ledger.ATTEMPT_LOG not in world.ledger_item(OID)


def test_show_by_ref_finds_the_orders_and_prints_the_attempt_log(world, target, capsys) -> None:
    assert _first_delivery(world, ref="cart-77") == "order.delivered"
    assert main(["show", "--ref", "cart-77"], target=target) == 0
    out = capsys.readouterr().out
    assert "storefront_ref 'cart-77': 1 order(s)" in out
    assert f"order {OID}" in out
    assert "webhook attempts (newest last):" in out
    assert "#1 " in out and "poller: HTTP 200 in" in out
    assert not any(code in out for code in CODES)

    assert main(["show", "--ref", "cart-77", "--json"], target=target) == 0
    shown = json.loads(capsys.readouterr().out)
    [attempt] = shown["ledger"][Ledger.ATTEMPT_LOG]
    assert (attempt["n"], attempt["actor"], attempt["status"]) == (1, "poller", 200)

    assert main(["show", "--ref", "no-such-ref"], target=target) == 1
    assert "no order with storefront_ref 'no-such-ref'" in capsys.readouterr().out
