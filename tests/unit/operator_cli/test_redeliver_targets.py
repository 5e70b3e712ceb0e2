"""Where `redeliver` sends: the environment's webhook URL and signing secret, on AWS (cdk.json)
and on the local stack (its state file: the storefront receiver)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from operator_cli.target import aws_target, local_target
from stacks.config import environment_config

CONFIG = environment_config("dev")
TEMPLATE = {
    "Resources": {"Orders": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {
        "OrdersQueueUrl": {"Value": "https://sqs.test/orders"},
        "DeadLetterQueueUrl": {"Value": "https://sqs.test/orders-dlq"},
        "LedgerTableName": {"Value": "ledger"},
    },
}


def test_the_aws_target_takes_the_webhook_from_cdk_json(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", *(k for k in os.environ if k.startswith("AWS_ENDPOINT_URL"))):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=CONFIG.region)
        cfn.create_stack(StackName=CONFIG.stack_name, TemplateBody=json.dumps(TEMPLATE))
        target = aws_target("dev")
    assert target.webhook_url == CONFIG.webhook_url
    assert target.webhook_secret == CONFIG.webhook_secret_name


def test_the_local_target_sends_to_the_receiver(tmp_path: Path) -> None:
    state = {
        "endpoints": {},
        "foxreload_base_url": "http://127.0.0.1:1",
        "receiver_url": "http://127.0.0.1:2/hooks",
        "resources": {
            "env_name": "local",
            "region": "eu-west-1",
            "orders_queue_url": "q",
            "dlq_url": "d",
            "ledger_table": "l",
            "api_key_secret": "k",
            "webhook_secret": "foxreload-relay/local/webhook-secret",
        },
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    target = local_target(path)
    assert target.webhook_url == "http://127.0.0.1:2/hooks"
    assert target.webhook_secret == "foxreload-relay/local/webhook-secret"
