"""The `world` fixture: in-process AWS (moto) + scripted FoxReload and storefront (respx)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import boto3
import pytest
import respx
from moto import mock_aws

from local_stack.moto_atomic import make_moto_requests_atomic
from relay.runtime import PollerRuntime
from tests.unit.service.relay_world import (
    API_KEY,
    FOX,
    SINK,
    WEBHOOK_SECRET,
    Clock,
    RecordingMetrics,
    RelayWorld,
    Storefront,
    _now,
    create_ledger_table,
)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[RelayWorld]:
    make_moto_requests_atomic(monkeypatch)  # one batch calls AWS from several threads
    with mock_aws(), respx.mock(assert_all_called=False) as router:
        sqs = boto3.client("sqs", region_name="eu-west-1")
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        dlq_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
        queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        create_ledger_table(ddb, "ledger")
        secrets.create_secret(Name="fox-key", SecretString=API_KEY)
        secrets.create_secret(Name="webhook-secret", SecretString=WEBHOOK_SECRET)
        env = {
            "FOXRELOAD_BASE_URL": FOX,
            "FOXRELOAD_API_KEY_SECRET": "fox-key",
            "LEDGER_TABLE": "ledger",
            "ORDERS_QUEUE_URL": queue_url,
            "DLQ_URL": dlq_url,
            "SINK_WEBHOOK_URL": SINK,
            "SINK_WEBHOOK_SECRET": "webhook-secret",
            "ALLOW_INSECURE_HTTP": "true",  # loopback test doubles
        }
        clock = Clock(_now())
        storefront = Storefront(now=clock)  # signatures are dated on the relay's (test) clock
        router.post(SINK).mock(side_effect=storefront)
        logger = logging.getLogger("relay-test")
        runtime = PollerRuntime.from_env(env, logger, metrics=None)  # type: ignore[arg-type]
        metrics = RecordingMetrics()
        runtime.relay.deps.metrics = metrics
        runtime.relay.deps.clock = clock
        runtime.relay.deps.rand = lambda: 0.5
        yield RelayWorld(
            sqs, ddb, queue_url, dlq_url, "ledger", runtime, clock, metrics, storefront, router
        )
