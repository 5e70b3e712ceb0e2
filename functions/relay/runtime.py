"""Wiring, once per process: settings → AWS clients, HTTP clients and adapters. The poller and the
sweeper build the same `RelayDeps` here (`build_relay_deps`); the monitors build theirs in
relay.monitor_runtime, which the poller, importing this module during its cold start, never
loads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import httpx
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from relay.adapters.coordination import CoordinationTable
from relay.adapters.foxreload_client import FoxReloadClient, Timeouts
from relay.adapters.ledger import LedgerTable
from relay.adapters.order_queue import OrderQueue
from relay.adapters.secrets import SecretCache
from relay.adapters.sweep_ticks import SweepTicks
from relay.adapters.webhook_sink import WebhookSink
from relay.names import Metric
from relay.service.deps import RelayDeps
from relay.service.order_relay import OrderRelay
from relay.settings import PollerSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from relay.adapters.ledger_queries import LedgerQueries
    from relay.domain.stuck_orders import LedgerOrder

_BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=5,
    max_pool_connections=20,
)


class LoopBoundClient:
    """An httpx.AsyncClient per event loop. In Lambda, Powertools reuses one loop across warm
    invocations, so connections are reused; elsewhere each invocation may bring a new loop."""

    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    def __call__(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._factory()
            self._loop = loop
        return self._client


class PowertoolsMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def count(self, name: str, value: float = 1.0) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def seconds(self, name: str, value: float) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=round(value, 3))


@dataclass
class PollerRuntime:
    """The poller's settings and its wired relay, built once per cold start."""

    settings: PollerSettings
    relay: OrderRelay

    @classmethod
    def from_env(cls, env: Mapping[str, str], logger: Logger, metrics: Metrics) -> PollerRuntime:
        deps = build_relay_deps(env, logger, metrics)
        return cls(settings=deps.settings, relay=OrderRelay(deps))


def build_relay_deps(env: Mapping[str, str], logger: Logger, metrics: Metrics) -> RelayDeps:
    """What the poller's OrderRelay and the sweeper share: one set per process."""
    settings = PollerSettings.from_env(env)
    secrets = SecretCache(
        lambda: boto3.client("secretsmanager", config=_BOTO_CONFIG),
        on_stale=lambda _secret_id: deps.metrics.count(Metric.SECRET_STALE_READS),
    )
    timeouts = Timeouts(settings.http_connect_timeout, settings.http_read_timeout)
    fox_http = LoopBoundClient(
        lambda: httpx.AsyncClient(
            timeout=timeouts.httpx(),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=False,
        )
    )
    sink_http = LoopBoundClient(
        lambda: httpx.AsyncClient(timeout=settings.webhook_timeout, follow_redirects=False)
    )
    foxreload = FoxReloadClient(
        settings.foxreload_base_url,
        api_key=lambda: secrets.get(settings.foxreload_api_key_secret),
        invalidate_key=lambda: secrets.invalidate(settings.foxreload_api_key_secret),
        http=fox_http,
        timeouts=timeouts,
        clock=lambda: deps.clock(),  # noqa: PLW0108 - late-bound: tests swap deps.clock
    )
    dynamodb = boto3.client("dynamodb", config=_BOTO_CONFIG)
    sqs = boto3.client("sqs", config=_BOTO_CONFIG)
    queries = _LazyQueries(dynamodb, settings.ledger_table)
    deps = RelayDeps(
        settings=settings,
        foxreload=foxreload,
        sink=WebhookSink(settings.sink_webhook_url, sink_http),
        ledger=LedgerTable(dynamodb, settings.ledger_table, settings.ledger_ttl_days),
        coordination=CoordinationTable(dynamodb, settings.ledger_table),
        queue=OrderQueue(sqs, settings.orders_queue_url, settings.dlq_url),
        webhook_secret=lambda: secrets.get(settings.sink_webhook_secret),
        invalidate_webhook_secret=lambda: secrets.invalidate(settings.sink_webhook_secret),
        metrics=PowertoolsMetrics(metrics),
        log=logger,
        unfinished_between=queries.unfinished_between,
        accepted_between=queries.accepted_between,
        ticks=SweepTicks(sqs, settings.sweep_tick_queue_url)
        if settings.sweep_tick_queue_url
        else None,
    )
    return deps


class _LazyQueries:
    """The sweeper's acceptance-index queries; the adapter is loaded on the first query (the
    poller, which shares these dependencies, never queries)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._args = (dynamodb, table)
        self._queries: LedgerQueries | None = None

    def _loaded(self) -> LedgerQueries:
        if self._queries is None:
            from relay.adapters.ledger_queries import LedgerQueries  # noqa: PLC0415

            self._queries = LedgerQueries(*self._args)
        return self._queries

    def unfinished_between(self, start: float, end: float) -> int:
        return self._loaded().unfinished_between(start, end)

    def accepted_between(self, start: float, end: float) -> list[LedgerOrder]:
        return self._loaded().accepted_between(start, end)
