"""Each function's IAM grants, checked against what its code really calls, not against a reading
of it: the real handlers of the poller, the sweeper and the two monitors run (FoxReload simulator
on loopback, storefront receiver, moto), every AWS operation they make is recorded with its
parameters, and each must be one the stack grants that function: the DynamoDB actions of
`stacks.relay_construct` (*_LEDGER_ACTIONS, which test_stack_resources checks are what the
template grants), on the table or the one index the function is granted, and the queue and
secret actions test_stack_resources lists. The runs also use the DynamoDB actions granted, so a
grant no code needs shows up here too. moto does not evaluate IAM, so without this an action
missing from a role would first show up as AccessDenied in AWS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.esm_runner import lambda_record
from local_stack.moto_atomic import atomic_moto_requests
from local_stack.storefront_receiver import StorefrontReceiver
from relay.adapters.balance_store import BalanceStore
from relay.adapters.ledger import LedgerTable
from relay.domain.balance import RecordKind
from relay.handlers import balance_monitor, poller, stuck_monitor
from relay.handlers import sweeper as sweeper_handler
from relay.names import Ledger
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel
from stacks import relay_construct
from tests.unit.handlers.monitor_world import create_ledger_table, put_order

pytestmark = pytest.mark.wire
SECRET = "whsec-grants"  # noqa: S105 - test value
REGION = "eu-west-1"
TABLE = "ledger"
SECRET_ACTIONS = {"GetSecretValue", "DescribeSecret"}
# What the stack grants on each queue (test_stack_resources: the event source mapping's grant
# on the orders queue, grant_send_messages on the DLQ).
ORDERS_QUEUE_ACTIONS = {
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
    "GetQueueUrl",
}
DLQ_ACTIONS = {"SendMessage", "GetQueueAttributes", "GetQueueUrl"}


class _Context:
    memory_limit_in_mb = 256
    aws_request_id = "req-grants"

    def __init__(self, function_name: str, run_seconds: float) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self._deadline = time.time() + run_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.time()) * 1000)


@dataclass
class Call:
    service: str  # as IAM spells it: the signing name is the action prefix
    operation: str
    params: dict[str, Any]


@dataclass
class World:
    sim: Any
    receiver: Any
    setup: Any  # a boto3 session of the test's own, not recorded
    orders_url: str
    dlq_url: str
    calls: list[Call] = field(default_factory=list)

    def operations(self, service: str) -> set[str]:
        return {c.operation for c in self.calls if c.service == service}

    def services(self) -> set[str]:
        return {c.service for c in self.calls}


def _granted(actions: tuple[str, ...]) -> set[str]:
    return {a.removeprefix("dynamodb:") for a in actions}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """moto with the ledger, the two secrets and the queues; the simulator and the receiver on
    loopback; the relay's environment set; every call on boto3's default session recorded."""
    config = SimulatorConfig(api_keys=("relay-key",), timing=TimingModel.fast(), seed=11)
    with (
        atomic_moto_requests(),  # the monitors query hour partitions from a thread pool
        mock_aws(),
        FoxReloadSimulator(config) as sim,
        StorefrontReceiver(SECRET) as receiver,
    ):
        setup = boto3.session.Session(region_name=REGION)
        create_ledger_table(setup.client("dynamodb"), TABLE)
        secrets = setup.client("secretsmanager")
        secrets.create_secret(Name="key", SecretString="relay-key")
        secrets.create_secret(Name="hook", SecretString=SECRET)
        sqs = setup.client("sqs")
        found = World(
            sim,
            receiver,
            setup,
            orders_url=sqs.create_queue(QueueName="orders")["QueueUrl"],
            dlq_url=sqs.create_queue(QueueName="dlq")["QueueUrl"],
        )
        env = {
            "FOXRELOAD_BASE_URL": sim.base_url,
            "FOXRELOAD_API_KEY_SECRET": "key",
            "LEDGER_TABLE": TABLE,
            "ORDERS_QUEUE_URL": found.orders_url,
            "DLQ_URL": found.dlq_url,
            "SINK_WEBHOOK_URL": receiver.url,
            "SINK_WEBHOOK_SECRET": "hook",
            "ALLOW_INSECURE_HTTP": "true",  # loopback test doubles
            "SWEEP_ENABLED": "True",
            "AWS_DEFAULT_REGION": REGION,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        def record(params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
            found.calls.append(Call(model.service_model.signing_name, model.name, dict(params)))

        # The handlers build their clients from boto3's default session: record on that one.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        boto3.setup_default_session(region_name=REGION)
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", record)
        for module in (poller, balance_monitor, stuck_monitor):
            monkeypatch.setattr(module, "_runtime", None)  # a cold start
        monkeypatch.setattr(sweeper_handler, "_sweeper", None)
        yield found


def _accept(world: World, order_ids: list[str]) -> None:
    table = LedgerTable(world.setup.client("dynamodb"), TABLE)
    now = time.time()
    for order_id in order_ids:  # accepted, as the poller's first sight records them
        table.touch(order_id, sent_at=now, storefront_ref=None, now=now)


def test_every_aws_call_of_a_sweeper_run_is_granted(world: World) -> None:
    ours = [world.sim.create_order()["id"] for _ in range(12)]
    world.sim.create_order()  # not ours: listed, looked up, skipped
    _accept(world, ours)
    time.sleep(4)  # TimingModel.fast(): every order terminal within 3.5 s

    context = _Context("sweeper", run_seconds=8 + sweeper_handler._MARGIN_SECONDS)
    result = sweeper_handler.handler({}, context)  # type: ignore[arg-type]
    assert result["sweeps"] >= 1
    assert result["delivered"] > 0
    assert len(world.receiver.deliveries()) == result["delivered"]

    granted = _granted(relay_construct.SWEEPER_LEDGER_ACTIONS)
    used = world.operations("dynamodb")
    # the run exercised what the grants are for (so the check below is not vacuous) ...
    assert {"BatchGetItem", "Query", "UpdateItem"} <= used
    # ... and nothing beyond them: the ledger actions, the two secrets, no queue at all
    assert used <= granted, used - granted
    for call in world.calls:
        if call.operation == "Query":  # is anything in flight: the one index granted
            assert _index_of(call) == Ledger.ACCEPTED_INDEX
    assert world.operations("secretsmanager") <= SECRET_ACTIONS
    assert world.services() <= {"dynamodb", "secretsmanager"}, world.services()


def test_every_aws_call_of_a_poller_batch_is_granted(world: World) -> None:
    done = world.sim.create_order()["id"]  # terminal within 3.5 s: delivered
    waiting = world.sim.create_order(timeline=[["processing", 0]])["id"]  # never: rescheduled
    sqs = world.setup.client("sqs")
    for body in (
        json.dumps({"v": 1, "order_id": done}),
        json.dumps({"v": 1, "order_id": waiting}),
        "{not json",  # poison: straight to the DLQ
    ):
        sqs.send_message(QueueUrl=world.orders_url, MessageBody=body)
    time.sleep(4)
    received = sqs.receive_message(
        QueueUrl=world.orders_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        VisibilityTimeout=30,
    )["Messages"]
    arn = f"arn:aws:sqs:{REGION}:123456789012:orders"
    event = {"Records": [lambda_record(m, arn, REGION) for m in received]}
    assert len(event["Records"]) == 3

    response = poller.handler(event, _Context("poller", run_seconds=20))  # type: ignore[arg-type]
    assert len(response["batchItemFailures"]) == 1  # the order still processing
    assert [d.order_id for d in world.receiver.deliveries()] == [done]

    granted = _granted(relay_construct.POLLER_LEDGER_ACTIONS)
    assert world.operations("dynamodb") == granted  # every call granted, every grant used
    by_queue: dict[str, set[str]] = {}
    for call in world.calls:
        if call.service == "sqs":
            by_queue.setdefault(call.params["QueueUrl"], set()).add(call.operation)
    assert by_queue[world.dlq_url] <= DLQ_ACTIONS
    assert "SendMessage" in by_queue[world.dlq_url]
    assert by_queue.get(world.orders_url, set()) <= ORDERS_QUEUE_ACTIONS
    assert set(by_queue) <= {world.orders_url, world.dlq_url}
    assert world.operations("secretsmanager") <= SECRET_ACTIONS
    assert world.services() <= {"dynamodb", "sqs", "secretsmanager"}, world.services()


def _index_of(call: Call) -> str | None:
    index: str | None = call.params.get("IndexName")
    return index


def test_every_aws_call_of_a_balance_check_is_granted(world: World) -> None:
    ddb = world.setup.client("dynamodb")
    now = time.time()
    BalanceStore(ddb, TABLE, clock=lambda: now - 5 * 3600).record(RecordKind.BALANCE, Decimal(500))
    for n, hours_ago in enumerate((4, 3, 0.1)):  # settled hours (kept as sums) and this one
        at = now - hours_ago * 3600
        put_order(ddb, f"o-{n}", at, outcome="delivered", outcome_at=at + 5, total_price="20")

    result = balance_monitor.handler({}, _Context("balance", run_seconds=60))  # type: ignore[arg-type]
    assert result["source"] == "estimate"
    assert result["spend_24h"] == 60

    granted = _granted(relay_construct.BALANCE_LEDGER_ACTIONS)
    used = world.operations("dynamodb")
    # PutItem is granted apart, on the kept hour sums' keys only
    assert used == granted | {"PutItem"}
    for call in world.calls:
        if call.operation == "PutItem":
            key = call.params["Item"][Ledger.PARTITION_KEY]["S"]
            assert key.startswith(relay_construct.BALANCE_KEPT_SUM_KEYS.removesuffix("*"))
        if call.operation == "Query":
            assert _index_of(call) == Ledger.SPEND_INDEX  # the one index granted
    assert world.services() <= {"dynamodb", "secretsmanager"}, world.services()
    assert world.operations("secretsmanager") <= SECRET_ACTIONS


def test_every_aws_call_of_a_stuck_check_is_granted(world: World) -> None:
    ddb = world.setup.client("dynamodb")
    now = time.time()
    put_order(ddb, "on-time", now - 900, outcome="delivered", outcome_at=now - 850)
    put_order(ddb, "stuck", now - 900)

    result = stuck_monitor.handler({}, _Context("stuck", run_seconds=60))  # type: ignore[arg-type]
    assert (result["orders"], result["stuck"]) == (2, 1)

    granted = _granted(relay_construct.STUCK_LEDGER_ACTIONS)
    used = world.operations("dynamodb")
    assert used <= granted, used - granted
    assert "Query" in used
    for call in world.calls:
        if call.operation == "Query":
            assert _index_of(call) == Ledger.ACCEPTED_INDEX  # the one index granted
    assert world.services() == {"dynamodb"}, world.services()


def test_every_aws_call_of_a_tick_chain_is_granted(world: World, monkeypatch) -> None:
    """With a tick queue: a scheduled run and the tick's run send only ticks, to their queue."""
    ticks_url = world.setup.client("sqs").create_queue(QueueName="ticks")["QueueUrl"]
    monkeypatch.setenv("SWEEP_TICK_QUEUE_URL", ticks_url)
    ours = [world.sim.create_order()["id"] for _ in range(3)]
    _accept(world, ours)
    context = _Context("sweeper", run_seconds=8 + sweeper_handler._MARGIN_SECONDS)
    first = sweeper_handler.handler({}, context)  # type: ignore[arg-type]
    assert first["sweeps"] == 1
    received = world.setup.client("sqs").receive_message(
        QueueUrl=ticks_url, WaitTimeSeconds=20, AttributeNames=["All"]
    )["Messages"]
    arn = f"arn:aws:sqs:{REGION}:123456789012:ticks"
    event = {"Records": [lambda_record(m, arn, REGION) for m in received]}
    context = _Context("sweeper", run_seconds=8 + sweeper_handler._MARGIN_SECONDS)
    second = sweeper_handler.handler(event, context)  # type: ignore[arg-type]
    assert second["sweeps"] == 1

    sends = [c for c in world.calls if c.service == "sqs"]
    assert [c.operation for c in sends] == ["SendMessage", "SendMessage"]  # one tick a run
    assert {c.params["QueueUrl"] for c in sends} == {ticks_url}
    assert world.operations("dynamodb") <= _granted(relay_construct.SWEEPER_LEDGER_ACTIONS)
    assert world.services() <= {"dynamodb", "secretsmanager", "sqs"}, world.services()
