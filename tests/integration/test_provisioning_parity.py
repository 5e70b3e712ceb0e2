"""The local stack provisions what the CDK stack synthesizes: same queues, table, ESM, settings.

The template is synthesized without bundling (context `aws:cdk:bundling-stacks: []`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from local_stack.provision import poller_env
from local_stack.stack import LocalStack
from relay.settings import ENV_NAMES
from stacks.application import build_app

pytestmark = pytest.mark.wire

POLLER_HANDLER = "relay.handlers.poller.handler"
SWEEPER_HANDLER = "relay.handlers.sweeper.handler"
# The local stack's loopback URLs, and its explicit opt-out of the https requirement for them.
LOCAL_URL_SETTINGS = {"FOXRELOAD_BASE_URL", "SINK_WEBHOOK_URL", "ALLOW_INSECURE_HTTP"}


@pytest.fixture(scope="module")
def template(stack: LocalStack) -> dict[str, Any]:
    _app, relay_stack = build_app(
        stack.config.name,
        nag=False,
        extra_context={"aws:cdk:bundling-stacks": []},
    )
    return Template.from_stack(relay_stack).to_json()


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def _queue(template: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [q for q in _resources(template, "AWS::SQS::Queue") if q.get("QueueName") == name]
    return found


def _poller(template: dict[str, Any]) -> dict[str, Any]:
    functions = _resources(template, "AWS::Lambda::Function")
    (found,) = [f for f in functions if f.get("Handler") == POLLER_HANDLER]
    return found


def test_queues_match_the_template(stack: LocalStack, template: dict[str, Any]) -> None:
    assert stack.resources is not None
    sqs = stack.client("sqs")
    orders_name = stack.resources.orders_queue_url.rsplit("/", 1)[-1]
    dlq_name = stack.resources.dlq_url.rsplit("/", 1)[-1]
    cfn_orders, cfn_dlq = _queue(template, orders_name), _queue(template, dlq_name)
    orders = sqs.get_queue_attributes(
        QueueUrl=stack.resources.orders_queue_url, AttributeNames=["All"]
    )["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=stack.resources.dlq_url, AttributeNames=["All"])[
        "Attributes"
    ]

    assert int(orders["VisibilityTimeout"]) == cfn_orders["VisibilityTimeout"]
    redrive = json.loads(orders["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == cfn_orders["RedrivePolicy"]["maxReceiveCount"]
    assert redrive["deadLetterTargetArn"] == stack.resources.dlq_arn
    assert int(dlq["MessageRetentionPeriod"]) == cfn_dlq["MessageRetentionPeriod"]
    # what the template leaves to SQS defaults, the local stack leaves too
    default_retention = 4 * 24 * 3600
    assert int(orders["MessageRetentionPeriod"]) == cfn_orders.get(
        "MessageRetentionPeriod", default_retention
    )
    assert int(orders.get("DelaySeconds", 0)) == cfn_orders.get("DelaySeconds", 0)
    assert int(orders.get("ReceiveMessageWaitTimeSeconds", 0)) == cfn_orders.get(
        "ReceiveMessageWaitTimeSeconds", 0
    )


def test_the_tick_queue_matches_the_template(stack: LocalStack, template: dict[str, Any]) -> None:
    """The sweeper's tick queue: named by the template only through its logical id, so found
    as the queue the sweeper's event source mapping reads."""
    if not stack.config.sweep_enabled:
        return
    assert stack.resources is not None and stack.resources.sweep_ticks_url
    mappings = _resources(template, "AWS::Lambda::EventSourceMapping")
    logical = {
        m["EventSourceArn"]["Fn::GetAtt"][0]
        for m in mappings
        if isinstance(m["EventSourceArn"], dict) and "Fn::GetAtt" in m["EventSourceArn"]
    }
    queues = template["Resources"]
    cfn = [queues[name]["Properties"] for name in logical if "SweepTicks" in name]
    assert len(cfn) == 1, logical
    (cfn_ticks,) = cfn
    local = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.sweep_ticks_url, AttributeNames=["All"]
    )["Attributes"]
    assert int(local["MessageRetentionPeriod"]) == cfn_ticks["MessageRetentionPeriod"]
    assert int(local["VisibilityTimeout"]) == cfn_ticks["VisibilityTimeout"]
    # the sweeper, and only the sweeper, is given it
    assert stack.sweeper_config().env[ENV_NAMES["sweep_tick_queue_url"]] == (
        stack.resources.sweep_ticks_url
    )
    assert stack.function_env()[ENV_NAMES["sweep_tick_queue_url"]] == ""


def test_ledger_table_matches_the_template(stack: LocalStack, template: dict[str, Any]) -> None:
    assert stack.resources is not None
    ddb = stack.client("dynamodb")
    (cfn,) = _resources(template, "AWS::DynamoDB::Table")
    table = ddb.describe_table(TableName=stack.resources.ledger_table)["Table"]
    ttl = ddb.describe_time_to_live(TableName=stack.resources.ledger_table)["TimeToLiveDescription"]

    assert table["KeySchema"] == cfn["KeySchema"]
    by_name = lambda defs: sorted(defs, key=lambda d: d["AttributeName"])  # noqa: E731
    assert by_name(table["AttributeDefinitions"]) == by_name(cfn["AttributeDefinitions"])
    local_indexes = {
        i["IndexName"]: {"KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in table.get("GlobalSecondaryIndexes", [])
    }
    cfn_indexes = {
        i["IndexName"]: {"KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in cfn.get("GlobalSecondaryIndexes", [])
    }
    assert local_indexes == cfn_indexes
    assert table.get("BillingModeSummary", {}).get("BillingMode") == cfn["BillingMode"]
    assert cfn["TimeToLiveSpecification"] == {
        "AttributeName": ttl["AttributeName"],
        "Enabled": ttl["TimeToLiveStatus"] == "ENABLED",
    }


def test_event_source_mapping_and_function_match_the_template(
    stack: LocalStack, template: dict[str, Any]
) -> None:
    # the orders queue's (the sweeper's tick queue has the other, checked above)
    (mapping,) = [
        m
        for m in _resources(template, "AWS::Lambda::EventSourceMapping")
        if "ReportBatchItemFailures" in m.get("FunctionResponseTypes", [])
    ]
    poller = _poller(template)
    esm = stack.esm_config()

    assert mapping["BatchSize"] == esm.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == esm.batching_window_seconds
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == esm.pollers
    assert poller["Timeout"] == esm.timeout_seconds
    assert poller["MemorySize"] == esm.memory_mb


def test_poller_environment_matches_the_template(
    stack: LocalStack, template: dict[str, Any]
) -> None:
    assert stack.resources is not None
    cfn_env: dict[str, Any] = _poller(template)["Environment"]["Variables"]
    local_env = poller_env(
        stack.config,
        stack.resources,
        foxreload_base_url="http://local",
        sink_webhook_url="http://local",
    )
    assert set(cfn_env) == set(local_env)
    literal = {k: v for k, v in cfn_env.items() if isinstance(v, str)}  # tokens are resources
    for name in set(literal) - LOCAL_URL_SETTINGS:
        assert local_env[name] == literal[name], name


def test_sweeper_function_and_schedule_match_the_template(
    stack: LocalStack, template: dict[str, Any]
) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    sweepers = [f for f in functions if f.get("Handler") == SWEEPER_HANDLER]
    assert stack.sweep_enabled == stack.config.sweep_enabled  # the session runs cdk.json's
    if not stack.config.sweep_enabled:
        assert sweepers == [] and stack.sweeper is None
        return
    (sweeper,) = sweepers
    assert stack.sweeper is not None, "sweepEnabled: the local stack runs the sweeper"
    local = stack.sweeper_config()
    assert local.handler.replace(":", ".") == SWEEPER_HANDLER
    assert sweeper["Timeout"] == local.timeout_seconds
    assert sweeper["MemorySize"] == local.memory_mb
    # the same environment as the poller's, as the stack writes it (URLs are local here)
    assert stack.resources is not None
    local_env = poller_env(
        stack.config,
        stack.resources,
        foxreload_base_url="http://local",
        sink_webhook_url="http://local",
    )
    cfn_env: dict[str, Any] = sweeper["Environment"]["Variables"]
    assert set(cfn_env) == set(local_env)
    literal = {k: v for k, v in cfn_env.items() if isinstance(v, str)}
    for name in set(literal) - LOCAL_URL_SETTINGS:
        assert local_env[name] == literal[name], name
    # EventBridge starts a run every minute and each sweeps for about its timeout minus a
    # margin, so runs follow each other: locally they are invoked back to back
    schedules = [r.get("ScheduleExpression") for r in _resources(template, "AWS::Events::Rule")]
    assert "rate(1 minute)" in schedules
    assert local.timeout_seconds >= 60
