"""The Lambda entry point: event shape in, partial batch response out; poison; logs."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from relay.handlers import poller
from relay.names import DeadLetterAttr
from relay.runtime import PollerRuntime
from tests.unit.service.relay_world import (
    API_KEY,
    FakeContext,
    fox_reply,
    lambda_event,
)

OID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
POISON = [
    ("", "empty_body"),
    ("{not json", "not_json"),
    (json.dumps({"v": 1}), "missing_order_id"),
    (json.dumps({"v": 1, "order_id": "../x"}), "invalid_order_id"),
    (json.dumps({"v": 1, "order_id": "x" * 10_240}), "invalid_order_id"),
    (json.dumps({"v": 1, "order_id": "订单-1"}), "invalid_order_id"),
    (json.dumps({"v": 1, "order_id": "1 OR 1=1; --"}), "invalid_order_id"),
    (json.dumps({"v": 1, "order_id": "`reboot`|&"}), "invalid_order_id"),
    (json.dumps({"v": 9, "order_id": OID}), "unknown_version"),
]


@pytest.fixture
def handler_env(world, monkeypatch):
    env = world.runtime.settings.to_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime = PollerRuntime.from_env(env, poller.logger, poller.metrics)  # the real wiring
    monkeypatch.setattr(poller, "_runtime", runtime)
    world.runtime = runtime
    return world


def send_raw(world, body: str) -> None:
    # SQS refuses an empty body; a storefront bug can still produce whitespace.
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=body or " ")


@pytest.mark.parametrize(("body", "reason"), POISON)
def test_poison_goes_to_the_dlq_at_once_and_foxreload_gets_nothing(handler_env, body, reason):
    world = handler_env
    fox = world.router.route(host="foxreload.test")
    send_raw(world, body)
    response = poller.handler(lambda_event(world), FakeContext())

    assert response == {"batchItemFailures": []}  # success: the mapping deletes the original
    [dead] = world.dlq()
    assert dead["Body"] == (body or " ")
    assert dead["MessageAttributes"][DeadLetterAttr.REASON]["StringValue"] == reason
    assert fox.call_count == 0


def test_poison_does_not_disturb_the_rest_of_the_batch(handler_env):
    world = handler_env
    world.fox_orders(OID, fox_reply(OID, "completed", ("C-1",)))
    send_raw(world, "{not json")
    send_raw(world, json.dumps({"v": 1, "order_id": OID}))
    response = poller.handler(lambda_event(world), FakeContext())
    assert response == {"batchItemFailures": []}
    assert len(world.storefront.deliveries) == 1
    assert len(world.dlq()) == 1


def test_reschedules_are_item_failures_not_an_invocation_error(handler_env):
    world = handler_env
    ids = [f"order-{i}" for i in range(3)]
    for order_id in ids:
        world.fox_orders(order_id, fox_reply(order_id, "processing"))
        send_raw(world, json.dumps({"v": 1, "order_id": order_id}))
    event = lambda_event(world)
    response = poller.handler(event, FakeContext())  # every record fails: still no exception
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {r["messageId"] for r in event["Records"]}


def test_polls_of_one_batch_run_concurrently(handler_env):
    import asyncio
    import time

    world = handler_env
    ids = [f"slow-{i}" for i in range(8)]

    async def slow(request):
        await asyncio.sleep(0.3)
        order_id = request.url.path.rsplit("/", 1)[-1]
        return fox_reply(order_id, "processing")

    for order_id in ids:
        world.router.get(f"http://foxreload.test/api/orders/{order_id}").mock(side_effect=slow)
        send_raw(world, json.dumps({"v": 1, "order_id": order_id}))
    event = lambda_event(world)
    assert len(event["Records"]) == 8
    started = time.perf_counter()
    poller.handler(event, FakeContext())
    assert time.perf_counter() - started < 8 * 0.3  # one after another would take 2.4 s


def test_codes_and_secrets_never_reach_the_logs(handler_env, capfd):
    relay_lines, everything = io.StringIO(), io.StringIO()
    relay_tap, root_tap = logging.StreamHandler(relay_lines), logging.StreamHandler(everything)
    relay_tap.setFormatter(poller.logger.registered_formatter)
    poller.logger.addHandler(relay_tap)
    logging.getLogger().addHandler(root_tap)  # httpx, botocore and the rest, at INFO
    logging.getLogger().setLevel(logging.INFO)
    world = handler_env
    codes = ("FOX-SECRETCODE-0001", "FOX-SECRETCODE-0002")
    world.fox_orders(
        OID,
        httpx.Response(401),
        fox_reply(OID, "processing"),
    )
    send_raw(world, json.dumps({"v": 1, "order_id": OID, "storefront_ref": "ref-1"}))
    poller.handler(lambda_event(world), FakeContext())
    world.fox_orders(OID, fox_reply(OID, "completed", codes))
    send_raw(world, json.dumps({"v": 1, "order_id": OID, "storefront_ref": "ref-1"}))
    response = poller.handler(lambda_event(world), FakeContext())
    assert response == {"batchItemFailures": []}
    assert world.storefront.deliveries[0]["items"][0]["codes"] == list(codes)

    poller.logger.removeHandler(relay_tap)
    logging.getLogger().removeHandler(root_tap)
    out = capfd.readouterr()
    logs = relay_lines.getvalue() + everything.getvalue() + out.out + out.err
    lines = [json.loads(line) for line in relay_lines.getvalue().splitlines()]
    assert any("accepted by the storefront" in line.get("message", "") for line in lines)
    assert lines
    assert all(line.get("order_id") == OID for line in lines)
    for secret in (*codes, API_KEY, "whsec-SECRET-456"):
        assert secret not in logs
