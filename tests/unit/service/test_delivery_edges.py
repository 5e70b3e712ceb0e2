"""The edges where the relay used to dead-letter orders it could still deliver: storefront
outages past the supplier deadline, a rotated webhook secret, day-long Retry-Afters, malformed
prices (in-process moto + respx; the DynamoDB side of prices runs on DynamoDB Local in
tests/integration/test_supplier_prices.py)."""

from __future__ import annotations

import dataclasses
import json

import boto3
import httpx
import pytest

from relay.domain.events import Event
from relay.domain.poll_outcome import RETRY_AFTER_CAP_SECONDS
from relay.domain.results import Settled
from relay.domain.retry_pacing import WEBHOOK_RETRY_CAP_SECONDS
from relay.names import DeadLetterAttr, Ledger, Metric
from relay.service.order_relay import Rescheduled
from relay.settings import PollerSettings, SettingsError
from tests.unit.service.relay_world import WEBHOOK_SECRET, fox_reply, make_visible, process

OID = "0b7e6d5c-4a39-4b28-9c17-f6e5d4c3b2a1"
BODY = json.dumps({"v": 1, "order_id": OID, "storefront_ref": "cart-9"})


def run_until_settled(world, max_rounds=2000):
    """Process the message round after round (advancing the clock by each delay) until it is
    delivered or dead-lettered; returns (result, rounds, reschedule reasons)."""
    [record] = world.receive()
    reasons = []
    for rounds in range(1, max_rounds + 1):
        [result] = process(world, [record])
        if not isinstance(result, Rescheduled):
            return result, rounds, reasons
        reasons.append(result.reason)
        make_visible(world, record)
        world.clock.advance(result.delay)
        [record] = world.receive()
    raise AssertionError("never settled")


def test_a_storefront_outage_past_the_supplier_deadline_still_delivers(world):
    """An order that completed during a 2-hour outage (8x the deadline) is delivered once the
    storefront is back, not dead-lettered as webhook_unavailable."""
    world.fox_orders(OID, *[fox_reply(OID, "completed", ("CODE-1",)) for _ in range(400)])
    outage_until = world.clock.now + 2 * 3600
    answers = []

    def storefront(request: httpx.Request) -> httpx.Response:
        if world.clock.now < outage_until:
            answers.append(503)
            return httpx.Response(503)
        return world.storefront(request)

    world.router.post("http://storefront.test/hooks/foxreload").mock(side_effect=storefront)
    world.send(BODY)

    result, rounds, reasons = run_until_settled(world)

    assert result == Event.DELIVERED
    assert world.dlq() == []
    assert world.storefront.keys == [f"{OID}:order.delivered"]
    assert len(answers) >= 10 and set(reasons) == {"webhook_retry"}
    # capped exponential backoff: the waits grow, none is longer than the pacing cap allows
    assert rounds < 100


def test_a_storefront_down_for_the_whole_delivery_window_is_dead_lettered_then(world):
    relay = world.runtime.relay
    relay.limits = dataclasses.replace(relay.limits, delivery_window=4 * 3600.0)
    world.fox_orders(OID, *[fox_reply(OID, "completed", ("CODE-1",)) for _ in range(1000)])
    world.router.post("http://storefront.test/hooks/foxreload").mock(
        return_value=httpx.Response(503)
    )
    world.send(BODY)
    started = world.clock.now

    result, _, _ = run_until_settled(world)

    assert result == Settled.DEAD_LETTERED
    assert world.clock.now - started >= 4 * 3600.0
    [dead] = world.dlq()
    assert dead["MessageAttributes"][DeadLetterAttr.REASON]["StringValue"] == "webhook_unavailable"


def test_webhook_retry_waits_back_off_exponentially_up_to_a_cap(world):
    world.fox_orders(OID, *[fox_reply(OID, "completed", ("CODE-1",)) for _ in range(20)])
    world.router.post("http://storefront.test/hooks/foxreload").mock(
        return_value=httpx.Response(500)
    )
    world.send(BODY)
    [record] = world.receive()
    delays = []
    for _ in range(12):
        [result] = process(world, [record])
        assert isinstance(result, Rescheduled)
        delays.append(result.delay)
        make_visible(world, record)
        world.clock.advance(result.delay)
        [record] = world.receive()
    assert delays[4] > delays[3] > delays[2] > delays[1]  # 10, 10, 20, 40, 80 ...
    assert delays[4] >= 2 * delays[3] * 0.75
    assert max(delays) <= 2 * WEBHOOK_RETRY_CAP_SECONDS


def test_a_storefront_401_rereads_the_secret_and_retries_instead_of_dead_lettering(world):
    """A webhook-secret rotation half done: the storefront verifies with the new secret."""
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")  # the world's moto
    new_secret = "whsec-ROTATED-789"  # noqa: S105 - test value
    world.fox_orders(
        OID,
        fox_reply(OID, "completed", ("CODE-1",)),
        fox_reply(OID, "completed", ("CODE-1",)),
    )
    seen_signatures = []

    def storefront(request: httpx.Request) -> httpx.Response:
        from relay.domain.webhook import verify

        ok = verify(
            new_secret, request.headers["X-Relay-Signature"], request.content, world.clock()
        )
        seen_signatures.append(ok)
        return httpx.Response(200 if ok else 401)

    world.router.post("http://storefront.test/hooks/foxreload").mock(side_effect=storefront)
    world.send(BODY)
    [record] = world.receive()
    assert world.runtime.relay.deps.webhook_secret() == WEBHOOK_SECRET  # cached before the rotation
    secrets.put_secret_value(SecretId="webhook-secret", SecretString=new_secret)

    [first] = process(world, [record])
    assert isinstance(first, Rescheduled) and first.reason == "webhook_retry"
    assert world.metrics.counts[Metric.WEBHOOK_AUTH_FAILURES] == 1
    make_visible(world, record)
    world.clock.advance(first.delay)
    [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    assert seen_signatures == [False, True]
    assert world.dlq() == []


def test_a_day_long_retry_after_is_obeyed_only_up_to_the_cap(world):
    world.fox_orders(OID, httpx.Response(429, headers={"Retry-After": "86400"}))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert RETRY_AFTER_CAP_SECONDS <= result.delay <= RETRY_AFTER_CAP_SECONDS * 1.2 + 1
    assert world.metrics.counts[Metric.LONG_BACK_OFFS] == 1


@pytest.mark.parametrize(
    "price", ["NaN", "Infinity", "-Infinity", '"1e400"', "1" + "0" * 40, "-25"]
)
def test_a_malformed_price_is_ignored_and_counted_and_the_codes_are_delivered(world, price):
    body = json.dumps(
        {"id": OID, "status": "completed", "items": [{"itemId": "g", "externalData": ["C1"]}]}
    )
    body = body[:-1] + f', "totalPrice": {price}}}'
    world.fox_orders(OID, httpx.Response(200, content=body.encode()))
    world.send(BODY)
    [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    assert world.metrics.counts[Metric.PRICES_IGNORED] == 1
    assert Ledger.TOTAL_PRICE not in world.ledger_item(OID)


@pytest.mark.parametrize("name", ["FOXRELOAD_BASE_URL", "SINK_WEBHOOK_URL"])
def test_plain_http_urls_are_refused_at_cold_start_unless_opted_out(name):
    env = {
        "FOXRELOAD_BASE_URL": "https://public-api.foxreload.com",
        "FOXRELOAD_API_KEY_SECRET": "k",
        "LEDGER_TABLE": "t",
        "ORDERS_QUEUE_URL": "q",
        "DLQ_URL": "d",
        "SINK_WEBHOOK_URL": "https://shop.example/hook",
        "SINK_WEBHOOK_SECRET": "s",
    }
    PollerSettings.from_env(env)
    env[name] = "http://plain.example/"
    with pytest.raises(SettingsError, match=name):
        PollerSettings.from_env(env)
    assert PollerSettings.from_env({**env, "ALLOW_INSECURE_HTTP": "true"}).allow_insecure_http
