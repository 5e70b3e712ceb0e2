"""Every alarm on a poller metric watches what the poller handler really emits (EMF on stdout),
with the same namespace, name and dimensions. The monitors' half is in tests/unit/handlers."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from relay.adapters.coordination import CoordinationTable
from relay.domain.fair_budget import FairBudget, FairState, LaneState
from relay.domain.rate_budget import BucketState
from relay.handlers import poller
from relay.names import Metric
from relay.runtime import PollerRuntime
from stacks.alarms import relay_watched_metrics
from stacks.config import environment_config
from tests.unit.handlers.monitor_world import emf_metrics
from tests.unit.service.relay_world import FakeContext, fox_reply, lambda_event

MONITOR_METRICS = {
    Metric.STUCK_ORDER_RATIO,
    Metric.STUCK_ORDERS,
    Metric.ORDERS_IN_STUCK_WINDOW,
    Metric.ESTIMATED_BALANCE,
    Metric.SPEND_24H,
    Metric.RUNWAY_HOURS,
    Metric.BALANCE_UNKNOWN,
}


@pytest.fixture
def real_handler(world, monkeypatch):
    env = world.runtime.settings.to_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime = PollerRuntime.from_env(env, poller.logger, poller.metrics)
    monkeypatch.setattr(poller, "_runtime", runtime)
    world.runtime = runtime
    return world


def test_every_poller_alarm_watches_an_emitted_metric(real_handler, capsys):
    world = real_handler
    scenario = {
        "ok-1": fox_reply("ok-1", "completed", ("C1",)),
        "broke-1": fox_reply("broke-1", "cancelled", cancelReason="payment_failure"),
        "err-1": httpx.Response(502),
        "auth-1": httpx.Response(403),
    }
    for order_id, response in scenario.items():
        world.router.get(f"http://foxreload.test/api/orders/{order_id}").mock(return_value=response)
        world.sqs.send_message(
            QueueUrl=world.queue_url, MessageBody=json.dumps({"v": 1, "order_id": order_id})
        )
    capsys.readouterr()
    event = lambda_event(world)
    assert len(event["Records"]) == len(scenario)
    poller.handler(event, FakeContext())
    emitted = emf_metrics(capsys.readouterr().out)

    # A rotated webhook secret, then a storefront outage long enough to open the breaker.
    world.storefront.statuses = [401]
    _run(world, {"rotated-1": fox_reply("rotated-1", "completed", ("C2",))})
    refused = emf_metrics(capsys.readouterr().out)
    world.storefront.statuses = [503] * 5
    # Five polls in one batch need five tokens at once: start them from a full bucket, so the
    # fifth webhook (the one that opens the breaker) is not left waiting for a token.
    coordination = CoordinationTable(world.ddb, world.table)
    full = FairBudget(world.runtime.relay.gate.split.whole).full(time.time())
    assert coordination.write_bucket(full, coordination.read_bucket().version)
    _run(world, {f"down-{n}": fox_reply(f"down-{n}", "completed", ("C3",)) for n in range(5)})
    refused.update(emf_metrics(capsys.readouterr().out))
    # The request budget has run dry (a 429's back-off, say): the orders wait for tokens.
    dry = LaneState(BucketState(0.0, time.time() + 600))
    assert coordination.write_bucket(FairState(dry, dry), coordination.read_bucket().version)
    _run(world, {f"wait-{n}": fox_reply(f"wait-{n}", "processing") for n in range(3)})
    waited = emf_metrics(capsys.readouterr().out)
    assert Metric.BACKLOG_AGE_SECONDS in waited
    emitted = {**waited, **refused, **emitted}

    watched = [
        m for m in relay_watched_metrics(environment_config(None)) if m.name not in MONITOR_METRICS
    ]
    assert {m.name for m in watched} >= {
        Metric.AUTH_FAILURES,
        Metric.API_ERRORS,
        Metric.POLL_ATTEMPTS,
        Metric.BALANCE_FAILURE_SIGNALS,
    }
    for metric in watched:
        assert metric.name in emitted, f"{metric.alarm} watches {metric.name}, never emitted"
        got = emitted[metric.name]
        assert (got.namespace, got.dimensions) == (metric.namespace, dict(metric.dimensions))


def _run(world, scenario: dict[str, httpx.Response]) -> None:
    for order_id, response in scenario.items():
        world.router.get(f"http://foxreload.test/api/orders/{order_id}").mock(return_value=response)
        world.sqs.send_message(
            QueueUrl=world.queue_url, MessageBody=json.dumps({"v": 1, "order_id": order_id})
        )
    event = lambda_event(world)
    assert len(event["Records"]) == len(scenario)
    poller.handler(event, FakeContext())
