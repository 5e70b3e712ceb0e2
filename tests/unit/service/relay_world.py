"""An in-process AWS (moto.mock_aws) and a scripted FoxReload/storefront (respx) for the relay."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

from local_stack.esm_runner import lambda_record
from local_stack.provision import ledger_table_definition
from relay.domain.webhook import verify
from relay.runtime import PollerRuntime
from relay.service.order_relay import QueueRecord

FOX = "http://foxreload.test"
SINK = "http://storefront.test/hooks/foxreload"
API_KEY = "fox-key-SECRET-123"
WEBHOOK_SECRET = "whsec-SECRET-456"  # noqa: S105 - test value


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}
        self.values: dict[str, list[float]] = {}

    def count(self, name: str, value: float = 1.0) -> None:
        self.counts[name] = self.counts.get(name, 0.0) + value

    def seconds(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)


@dataclass
class Storefront:
    """Records what the relay posted; answers with scripted status codes (default 200)."""

    statuses: list[int] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    now: Callable[[], float] = field(default=lambda: _now())
    requests: list[httpx.Request] = field(default_factory=list)  # raw bytes and headers
    verify: bool = True  # check X-Relay-Signature with WEBHOOK_SECRET

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        if self.verify:
            assert verify(
                WEBHOOK_SECRET, request.headers["X-Relay-Signature"], body, now=self.now()
            )
        self.keys.append(request.headers["Idempotency-Key"])
        self.requests.append(request)
        self.deliveries.append(json.loads(body))
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status)


def _now() -> float:
    import time

    return time.time()


@dataclass
class RelayWorld:
    sqs: Any
    ddb: Any
    queue_url: str
    dlq_url: str
    table: str
    runtime: PollerRuntime
    clock: Clock
    metrics: RecordingMetrics
    storefront: Storefront
    router: respx.MockRouter

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def receive(self, visibility: int = 30) -> list[QueueRecord]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            VisibilityTimeout=visibility,
        )
        return [
            QueueRecord(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(m["Attributes"]["ApproximateReceiveCount"]),
                sent_at=int(m["Attributes"]["SentTimestamp"]) / 1000.0,
            )
            for m in response.get("Messages", [])
        ]

    def dlq(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )
        return list(response.get("Messages", []))

    def ledger_item(self, order_id: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key={"order_id": {"S": order_id}}).get(
            "Item"
        )
        return item

    def fox_orders(self, order_id: str, *responses: httpx.Response) -> respx.Route:
        route = self.router.get(f"{FOX}/api/orders/{order_id}")
        route.side_effect = list(responses)
        return route


def order_json(
    order_id: str, status: str, codes: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    items = [{"itemId": "gift-25", "quantity": 1, "externalData": list(codes), "error": None}]
    body: dict[str, Any] = {"id": order_id, "status": status, "items": items, "totalPrice": 25.0}
    body.update(extra)
    return body


def fox_reply(
    order_id: str, status: str, codes: tuple[str, ...] = (), **extra: Any
) -> httpx.Response:
    return httpx.Response(200, json=order_json(order_id, status, codes, **extra))


def create_ledger_table(ddb: Any, name: str) -> None:
    """The ledger exactly as the local stack provisions it (and the CDK stack defines it)."""
    ddb.create_table(**ledger_table_definition(name))


async def _gather(world: RelayWorld, records: list[QueueRecord]) -> list[Any]:
    import asyncio

    return list(
        await asyncio.gather(
            *(world.runtime.relay.process(r) for r in records), return_exceptions=True
        )
    )


def process(world: RelayWorld, records: list[QueueRecord]) -> list[Any]:
    """Process records concurrently like one batch; results are strings or exceptions."""
    import asyncio

    return asyncio.run(_gather(world, records))


def make_visible(world: RelayWorld, record: QueueRecord) -> None:
    """Stand-in for the wait: the rescheduled message becomes visible now."""
    world.sqs.change_message_visibility(
        QueueUrl=world.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=0
    )


def lambda_event(world: RelayWorld, visibility: int = 30) -> dict[str, Any]:
    """Receive like the event source mapping and shape the records as Lambda's SQS event."""
    response = world.sqs.receive_message(
        QueueUrl=world.queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        VisibilityTimeout=visibility,
    )
    arn = "arn:aws:sqs:eu-west-1:123456789012:orders"
    messages = response.get("Messages", [])
    return {"Records": [lambda_record(m, arn, "eu-west-1") for m in messages]}


class FakeContext:
    function_name = "poller"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:poller"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
