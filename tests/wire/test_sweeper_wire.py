"""The completion sweeper over real loopback HTTP: FoxReload simulator → sweeper → storefront
receiver, with the ledger in (in-process) moto. Exactly once holds beside the per-order path."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from local_stack.storefront_receiver import StorefrontReceiver
from relay.adapters.coordination import CoordinationTable
from relay.runtime import PollerRuntime
from relay.service.sweeper import Sweeper
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel
from tests.unit.service.relay_world import create_ledger_table

pytestmark = pytest.mark.wire
SECRET = "whsec-wire"  # noqa: S105 - test value


@pytest.fixture
def parts() -> Iterator[tuple[FoxReloadSimulator, StorefrontReceiver, PollerRuntime]]:
    config = SimulatorConfig(api_keys=("relay-key",), timing=TimingModel.fast(), seed=7)
    with mock_aws(), FoxReloadSimulator(config) as sim, StorefrontReceiver(SECRET) as receiver:
        region = "eu-west-1"
        ddb = boto3.client("dynamodb", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        secrets = boto3.client("secretsmanager", region_name=region)
        create_ledger_table(ddb, "ledger")
        secrets.create_secret(Name="key", SecretString="relay-key")
        secrets.create_secret(Name="hook", SecretString=SECRET)
        env = {
            "FOXRELOAD_BASE_URL": sim.base_url,
            "FOXRELOAD_API_KEY_SECRET": "key",
            "LEDGER_TABLE": "ledger",
            "ORDERS_QUEUE_URL": sqs.create_queue(QueueName="orders")["QueueUrl"],
            "DLQ_URL": sqs.create_queue(QueueName="dlq")["QueueUrl"],
            "SINK_WEBHOOK_URL": receiver.url,
            "SINK_WEBHOOK_SECRET": "hook",
            "ALLOW_INSECURE_HTTP": "true",  # loopback test doubles
            "SWEEP_ENABLED": "true",
        }
        runtime = PollerRuntime.from_env(env, logging.getLogger("sweeper-test"), None)  # type: ignore[arg-type]
        runtime.relay.deps.metrics = _NullMetrics()
        yield sim, receiver, runtime


class _NullMetrics:
    def count(self, name: str, value: float = 1.0) -> None: ...

    def seconds(self, name: str, value: float) -> None: ...


def test_sweep_delivers_every_accepted_terminal_order_once_and_skips_the_rest(parts):
    sim, receiver, runtime = parts
    orders = [sim.create_order()["id"] for _ in range(30)]
    ours, not_yet = orders[:25], orders[25:]
    now = time.time()
    for order_id in ours:
        runtime.relay.deps.ledger.touch(
            order_id, sent_at=now, storefront_ref=f"ref-{order_id[:6]}", now=now
        )
    time.sleep(4)  # TimingModel.fast(): everything terminal within 3.5 s

    sweeper = Sweeper(runtime.relay.deps)
    stats = asyncio.run(sweeper.run(until=time.time() + 5))

    delivered = receiver.delivered_order_ids()
    assert set(delivered) == set(ours)
    assert receiver.duplicate_count() == 0
    assert not set(delivered) & set(not_yet)  # not accepted by the relay: not ours to deliver
    assert stats.sweeps >= 1
    for order_id in ours:
        assert runtime.relay.deps.ledger.get(order_id).outcome == "delivered"
    coverage = CoordinationTable(runtime.relay.deps.ledger._db, "ledger").read_coverage()
    assert coverage is not None
    assert coverage.horizon > 0

    # a second sweeper (the next scheduled run) finds them done: nothing is sent again
    asyncio.run(Sweeper(runtime.relay.deps).run(until=time.time() + 2))
    assert receiver.duplicate_count() == 0
    assert len(receiver.deliveries()) == len(ours)
    requests = sim.stats_snapshot()
    assert json.dumps(requests)  # the simulator counted the list reads


def test_only_one_sweeper_runs_at_a_time(parts):
    _sim, _receiver, runtime = parts
    table = CoordinationTable(runtime.relay.deps.ledger._db, "ledger")
    assert table.hold_sweeper_lease("someone-else", time.time(), time.time() + 60)
    stats = asyncio.run(Sweeper(runtime.relay.deps).run(until=time.time() + 5))
    assert stats.sweeps == 0


def test_sweep_respects_the_ages_on_foxreloads_clock(parts):
    """A jump of the simulator's clock still yields sane ages: the Date header and createdAt
    come on the relay's clock, whatever the simulation's own time."""
    sim, _receiver, runtime = parts
    sim.advance(3600)  # the simulation's clock is now an hour ahead of ours
    order_id = sim.create_order()["id"]
    now = time.time()
    # in flight: the sweeper wakes
    runtime.relay.deps.ledger.touch(order_id, sent_at=now, storefront_ref=None, now=now)
    sweeper = Sweeper(runtime.relay.deps)
    asyncio.run(sweeper.run(until=time.time() + 1))
    assert sweeper.state.seconds_per_page is not None
    assert sweeper.state.seconds_per_page < 3600  # not confused by the skew
