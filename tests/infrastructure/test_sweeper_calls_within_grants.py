"""The sweeper's IAM grants, checked against what its code really calls, not against a reading of
it: the real `relay.handlers.sweeper.handler` sweeps (FoxReload simulator on loopback, storefront
receiver, moto), every AWS operation it makes is recorded, and each must be one the stack grants.
moto does not evaluate IAM, so without this an action missing from the role would first show up
as AccessDenied in AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.storefront_receiver import StorefrontReceiver
from relay.adapters.ledger import LedgerTable
from relay.handlers import sweeper as sweeper_handler
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel
from stacks import relay_construct
from tests.unit.service.relay_world import create_ledger_table

pytestmark = pytest.mark.wire
SECRET = "whsec-grants"  # noqa: S105 - test value
REGION = "eu-west-1"


class _Context:
    function_name = "sweeper"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:sweeper"
    aws_request_id = "req-grants"

    def __init__(self, run_seconds: float) -> None:
        # the handler stops its margin before the function's end
        self._deadline = time.time() + run_seconds + sweeper_handler._MARGIN_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.time()) * 1000)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], Any, Any]]:
    """(calls as "service:Operation", simulator, receiver) with the sweeper's env in place."""
    calls: list[str] = []

    def record(model: Any, **_kwargs: Any) -> None:
        # as IAM spells it: the signing name is the action prefix (secretsmanager, dynamodb)
        calls.append(f"{model.service_model.signing_name}:{model.name}")

    config = SimulatorConfig(api_keys=("relay-key",), timing=TimingModel.fast(), seed=11)
    with mock_aws(), FoxReloadSimulator(config) as sim, StorefrontReceiver(SECRET) as receiver:
        setup = boto3.session.Session(region_name=REGION)
        create_ledger_table(setup.client("dynamodb"), "ledger")
        secrets = setup.client("secretsmanager")
        secrets.create_secret(Name="key", SecretString="relay-key")
        secrets.create_secret(Name="hook", SecretString=SECRET)
        sqs = setup.client("sqs")
        env = {
            "FOXRELOAD_BASE_URL": sim.base_url,
            "FOXRELOAD_API_KEY_SECRET": "key",
            "LEDGER_TABLE": "ledger",
            "ORDERS_QUEUE_URL": sqs.create_queue(QueueName="orders")["QueueUrl"],
            "DLQ_URL": sqs.create_queue(QueueName="dlq")["QueueUrl"],
            "SINK_WEBHOOK_URL": receiver.url,
            "SINK_WEBHOOK_SECRET": "hook",
            "ALLOW_INSECURE_HTTP": "true",  # loopback test doubles
            "SWEEP_ENABLED": "True",
            "AWS_DEFAULT_REGION": REGION,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # The handler builds its clients from boto3's default session: record on that one only.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        boto3.setup_default_session(region_name=REGION)
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", record)
        monkeypatch.setattr(sweeper_handler, "_sweeper", None)  # a cold start
        yield calls, sim, receiver


def test_every_aws_call_of_a_sweeper_run_is_granted(recorded: tuple[list[str], Any, Any]) -> None:
    calls, sim, receiver = recorded
    ledger = boto3.session.Session(region_name=REGION).client("dynamodb")
    ours = [sim.create_order()["id"] for _ in range(12)]
    sim.create_order()  # not ours: listed, looked up, skipped
    now = time.time()
    table = LedgerTable(ledger, "ledger", ttl_days=30)
    for order_id in ours:  # accepted, as the poller's first sight records them
        table.touch(order_id, now, None, now)
    time.sleep(4)  # TimingModel.fast(): every order terminal within 3.5 s

    result = sweeper_handler.handler({}, _Context(run_seconds=8))  # type: ignore[arg-type]
    assert result["sweeps"] >= 1
    assert result["delivered"] > 0
    assert len(receiver.deliveries()) == result["delivered"]

    granted_ddb = {a.removeprefix("dynamodb:") for a in relay_construct.SWEEPER_LEDGER_ACTIONS}
    by_service: dict[str, set[str]] = {}
    for call in calls:
        service, operation = call.split(":")
        by_service.setdefault(service, set()).add(operation)
    # the run exercised what the grants are for (so the check below is not vacuous) ...
    assert {"BatchGetItem", "Query", "UpdateItem"} <= by_service["dynamodb"]
    # ... and nothing beyond them: the ledger actions, the two secrets, no queue at all
    assert by_service["dynamodb"] <= granted_ddb, by_service["dynamodb"] - granted_ddb
    assert by_service.get("secretsmanager", set()) <= {"GetSecretValue", "DescribeSecret"}
    assert set(by_service) <= {"dynamodb", "secretsmanager"}, by_service
