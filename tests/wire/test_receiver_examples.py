"""The storefront receiver examples (docs/receivers: Python with the standardwebhooks library,
Node with built-in crypto only) against real signed deliveries from the relay's code over
loopback HTTP: FoxReload simulator orders, `signed_request` and the relay's `WebhookSink`, and
once the whole poller path. Every payload is validated against docs/schemas on the way."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import jsonschema
import pytest
from moto import mock_aws

from relay.adapters.webhook_sink import WebhookSink
from relay.domain.events import Event
from relay.domain.foxreload_order import FoxOrder, parse_order
from relay.domain.webhook import SignedRequest, SinkVerdict, signed_request
from relay.runtime import PollerRuntime
from relay.service.order_relay import QueueRecord
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel
from tests.unit.service.relay_world import create_ledger_table

pytestmark = pytest.mark.wire
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "python": [sys.executable, str(ROOT / "docs/receivers/python/receiver.py")],
    "node": ["node", str(ROOT / "docs/receivers/node/receiver.mjs")],
}
KINDS = sorted(EXAMPLES)
WEBHOOK_SCHEMA = json.loads((ROOT / "docs/schemas/webhook-payload.schema.json").read_text())
ORDER_SCHEMA = json.loads((ROOT / "docs/schemas/order-message.schema.json").read_text())


def whsec(seed: bytes) -> str:
    return "whsec_" + base64.b64encode(seed * (32 // len(seed))).decode()


CURRENT, PREVIOUS, STRANGER = whsec(b"new!"), whsec(b"old!"), whsec(b"evil")
ROTATING = json.dumps({"current": CURRENT, "previous": PREVIOUS})
PLAIN = "5f" * 32  # a pre-whsec_ secret (`openssl rand -hex 32`) keeps working


@dataclass
class Example:
    url: str
    lines: queue.Queue[str]

    def accepted(self, count: int, timeout: float = 5.0) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            out.append(json.loads(self.lines.get(timeout=max(0.01, deadline - time.monotonic()))))
        return out


@contextmanager
def example_receiver(kind: str, secret: str) -> Iterator[Example]:
    env = {**os.environ, "WEBHOOK_SECRET": secret, "PORT": "0", "HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        EXAMPLES[kind], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in out], daemon=True).start()
    try:
        first = lines.get(timeout=20)
        assert first.startswith("listening on http://127.0.0.1:"), first
        yield Example(first.removeprefix("listening on ") + "/webhooks/foxreload", lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def orders() -> list[tuple[FoxOrder, str, list[list[str]]]]:
    """One completed, one failed and one cancelled order, as the relay reads them."""
    scripts = [
        ("order.delivered", {"timeline": [["completed", 0]]}),
        (
            "order.failed",
            {"timeline": [["failed", 0]], "item_error": "out_of_stock", "failed_items": [0]},
        ),
        ("order.cancelled", {"timeline": [["cancelled", 0, "payment_failure"]]}),
    ]
    config = SimulatorConfig(timing=TimingModel.fast(), seed=11)
    out = []
    with FoxReloadSimulator(config) as sim:
        for event, script in scripts:
            oid = sim.create_order([{"itemId": "psn-20", "quantity": 2}], **script)["id"]
            body = httpx.get(
                f"{sim.base_url}/api/orders/{oid}", headers={"X-API-Key": sim.api_key}
            ).json()
            out.append((parse_order(body), event, sim.codes(oid)))
    return out


def deliver(url: str, request: SignedRequest) -> tuple[SinkVerdict, int | None]:
    """Send with the relay's own webhook adapter."""

    async def go() -> tuple[SinkVerdict, int | None]:
        async with httpx.AsyncClient(timeout=5) as client:
            result = await WebhookSink(url, lambda: client).send(request, budget_seconds=5.0)
            return result.verdict, result.status_code

    return asyncio.run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_example_accepts_real_deliveries_once_and_acknowledges_retries(kind, orders):
    first_seen = time.time() - 30
    with example_receiver(kind, CURRENT) as rx:
        sent = []
        for order, event, _codes in orders:
            req = signed_request(CURRENT, order, event, "sf-9", time.time(), first_seen)
            jsonschema.validate(json.loads(req.body), WEBHOOK_SCHEMA)
            assert json.loads(req.body)["status"] == order.status
            assert deliver(rx.url, req) == (SinkVerdict.ACCEPTED, 200)
            sent.append(req)
        lines = rx.accepted(3)
        assert [line["accepted"] for line in lines] == [r.idempotency_key for r in sent]
        assert [line["event"] for line in lines] == [e for _, e, _ in orders]
        assert lines[0]["codes"] == 2  # counted, never printed
        codes = [c for _, _, per_item in orders for item in per_item for c in item]
        assert codes and not any(c in json.dumps(lines) for c in codes)

        # a retry: the same key and bytes, a new timestamp: acknowledged, not processed again
        order, event, _ = orders[0]
        again = signed_request(CURRENT, order, event, "sf-9", time.time() + 1, first_seen)
        assert again.body == sent[0].body
        reply = httpx.post(rx.url, content=again.body, headers=again.headers, timeout=5)
        assert reply.status_code == 200 and reply.json() == {"received": True, "duplicate": True}
        with pytest.raises(queue.Empty):
            rx.accepted(1, timeout=0.3)


@pytest.mark.parametrize("kind", KINDS)
def test_example_refuses_what_the_relay_did_not_sign(kind, orders):
    order, event, _ = orders[0]
    now = time.time()
    good = signed_request(CURRENT, order, event, None, now)
    stale = signed_request(CURRENT, order, event, None, now - 3600)
    forged = signed_request(STRANGER, order, event, None, now)
    cases = {
        "tampered body": (good.body.replace(b"completed", b"c0mpleted"), good.headers),
        "wrong secret": (forged.body, forged.headers),
        "stale timestamp": (stale.body, stale.headers),
        "other webhook-id": (good.body, {**good.headers, "webhook-id": "x:order.delivered"}),
        "400-digit timestamp": (good.body, {**good.headers, "webhook-timestamp": "9" * 400}),
        "garbage signature": (good.body, {**good.headers, "webhook-signature": "v1,@@ v9"}),
        "no signature": (good.body, {"Content-Type": "application/json"}),
    }
    with example_receiver(kind, CURRENT) as rx:
        for name, (body, headers) in cases.items():
            reply = httpx.post(rx.url, content=body, headers=headers, timeout=5)
            assert reply.status_code == 401, name
        # the relay takes a 401 as "re-read the secret and retry" (a rotation half done)
        assert deliver(rx.url, forged) == (SinkVerdict.UNAUTHORIZED, 401)
        assert deliver(rx.url, good) == (SinkVerdict.ACCEPTED, 200)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("relay_secret", "storefront_secret"),
    [
        (PLAIN, PLAIN),
        (ROTATING, PREVIOUS),  # the storefront has not switched yet
        (ROTATING, CURRENT),  # it has
        (ROTATING, f"{PREVIOUS} {CURRENT}"),  # it holds both
        (CURRENT, f"{PREVIOUS} {CURRENT}"),  # the relay dropped previous first
    ],
    ids=["plain", "rotating-old", "rotating-new", "rotating-both", "rotated-both"],
)
def test_example_accepts_every_step_of_a_rotation(kind, relay_secret, storefront_secret, orders):
    order, event, _ = orders[0]
    with example_receiver(kind, storefront_secret) as rx:
        req = signed_request(relay_secret, order, event, None, time.time())
        assert deliver(rx.url, req) == (SinkVerdict.ACCEPTED, 200)
        stranger = signed_request(STRANGER, order, "order.failed", None, time.time())
        assert deliver(rx.url, stranger) == (SinkVerdict.UNAUTHORIZED, 401)


class _NullMetrics:
    def count(self, name: str, value: float = 1.0) -> None: ...

    def seconds(self, name: str, value: float) -> None: ...


@pytest.mark.parametrize("kind", KINDS)
def test_the_poller_delivers_to_the_example_during_a_rotation(kind):
    """The whole per-order path: order message -> poller -> FoxReload simulator -> signed
    webhook -> example receiver that still holds the previous secret. Nothing dead-letters."""
    config = SimulatorConfig(api_keys=("relay-key",), timing=TimingModel.fast(), seed=3)
    with (
        mock_aws(),
        FoxReloadSimulator(config) as sim,
        example_receiver(kind, PREVIOUS) as rx,
    ):
        region = "eu-west-1"
        sqs = boto3.client("sqs", region_name=region)
        secrets = boto3.client("secretsmanager", region_name=region)
        create_ledger_table(boto3.client("dynamodb", region_name=region), "ledger")
        secrets.create_secret(Name="key", SecretString="relay-key")
        secrets.create_secret(Name="hook", SecretString=ROTATING)
        queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        env = {
            "FOXRELOAD_BASE_URL": sim.base_url,
            "FOXRELOAD_API_KEY_SECRET": "key",
            "LEDGER_TABLE": "ledger",
            "ORDERS_QUEUE_URL": queue_url,
            "DLQ_URL": sqs.create_queue(QueueName="dlq")["QueueUrl"],
            "SINK_WEBHOOK_URL": rx.url,
            "SINK_WEBHOOK_SECRET": "hook",
            "ALLOW_INSECURE_HTTP": "true",  # loopback test doubles
        }
        runtime = PollerRuntime.from_env(env, logging.getLogger("examples"), None)  # type: ignore[arg-type]
        runtime.relay.deps.metrics = _NullMetrics()
        oid = sim.create_order([{"itemId": "psn-20", "quantity": 1}], timeline=[["completed", 0]])[
            "id"
        ]
        message = {"v": 1, "order_id": oid, "storefront_ref": "cart-1"}
        jsonschema.validate(message, ORDER_SCHEMA)
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        [m] = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"]
        record = QueueRecord(
            m["MessageId"],
            m["ReceiptHandle"],
            m["Body"],
            int(m["Attributes"]["ApproximateReceiveCount"]),
            int(m["Attributes"]["SentTimestamp"]) / 1000.0,
        )
        assert asyncio.run(runtime.relay.process(record)) == Event.DELIVERED
        [line] = rx.accepted(1)
        assert line == {
            "accepted": f"{oid}:order.delivered",
            "event": "order.delivered",
            "codes": 1,
        }
