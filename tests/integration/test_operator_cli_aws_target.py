"""`--env NAME` finds the resources of the CloudFormation stack FoxReloadRelay-NAME (in moto)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from operator_cli import cli
from operator_cli.target import aws_target
from stacks.config import environment_config

pytestmark = pytest.mark.wire

CONFIG = environment_config("dev")


def _template(with_outputs: bool) -> str:
    resources = {
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "foxreload-relay-dev-orders-dlq"},
        },
        "OrdersQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "foxreload-relay-dev-orders"},
        },
        "Ledger": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "ledger-from-cfn",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "order_id", "AttributeType": "S"}],
            },
        },
    }
    template: dict[str, object] = {"Resources": resources}
    if with_outputs:
        template["Outputs"] = {
            "OrdersQueueUrl": {"Value": {"Ref": "OrdersQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
            "LedgerTableName": {"Value": {"Ref": "Ledger"}},
        }
    return json.dumps(template)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    endpoints = tuple(k for k in os.environ if k.startswith("AWS_ENDPOINT_URL"))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", *endpoints):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.mark.parametrize("with_outputs", [True, False], ids=["outputs", "resources"])
def test_env_target_resolves_the_stack_and_enqueues(aws: None, with_outputs: bool) -> None:
    cfn = boto3.client("cloudformation", region_name=CONFIG.region)
    cfn.create_stack(StackName=CONFIG.stack_name, TemplateBody=_template(with_outputs))

    target = aws_target("dev")

    assert target.orders_queue_url.endswith("/foxreload-relay-dev-orders")
    assert target.dlq_url.endswith("/foxreload-relay-dev-orders-dlq")
    assert target.ledger_table == "ledger-from-cfn"
    assert target.api_key_secret == CONFIG.api_key_secret_name
    assert not target.is_local

    order_id = "0b7c2a52-1f7e-4b8e-9d8e-2f4a7c1e9a10"
    assert cli.main(["--env", "dev", "enqueue", order_id, "--ref", "r-1"]) == 0
    sqs = boto3.client("sqs", region_name=CONFIG.region)
    (message,) = sqs.receive_message(QueueUrl=target.orders_queue_url)["Messages"]
    assert json.loads(message["Body"]) == {"v": 1, "order_id": order_id, "storefront_ref": "r-1"}


def test_missing_stack_is_a_clear_error(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--env", "dev", "dlq", "list"]) == 2
    assert "FoxReloadRelay-dev" in capsys.readouterr().err


def test_redrive_all_on_aws_starts_a_move_task_from_the_dlq_to_the_orders_queue(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto has no StartMessageMoveTask: capture the call at botocore's edge and check its ARNs."""
    cfn = boto3.client("cloudformation", region_name=CONFIG.region)
    cfn.create_stack(StackName=CONFIG.stack_name, TemplateBody=_template(with_outputs=True))
    target = aws_target("dev")
    sqs = target.client("sqs")
    calls: list[dict[str, object]] = []

    def move_task(params: dict[str, Any], **_: object) -> tuple[object, dict[str, object]]:
        calls.append(json.loads(params["body"]))
        return AWSResponse("https://sqs.test", 200, {}, None), {"TaskHandle": "task-123"}

    sqs.meta.events.register("before-call.sqs.StartMessageMoveTask", move_task)
    arn = {
        name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for name, url in (("dlq", target.dlq_url), ("orders", target.orders_queue_url))
    }

    assert cli.main(["--env", "dev", "dlq", "redrive", "--all"], target=target) == 0

    assert calls == [{"SourceArn": arn["dlq"], "DestinationArn": arn["orders"]}]
    out = capsys.readouterr().out
    assert "task-123" in out
    assert f"list-message-move-tasks --source-arn {arn['dlq']}" in out


def test_an_unknown_environment_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--env", "nosuchenv", "dlq", "list"]) == 2
    err = capsys.readouterr().err
    assert "nosuchenv" in err and "Traceback" not in err
