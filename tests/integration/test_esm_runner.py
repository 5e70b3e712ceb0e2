"""The local event source mapping itself, around a stand-in handler on its own queue."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from local_stack.esm_runner import EsmRunner, failed_ids
from local_stack.stack import LocalStack
from tests.integration.wire_helpers import wait_until

pytestmark = pytest.mark.wire


def test_records_have_lambdas_shape_and_only_successes_are_deleted(
    stack: LocalStack, tmp_path: Path
) -> None:
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="esm-runner-check")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bodies = [json.dumps({"n": i, "fail_times": i % 3}) for i in range(12)]
    for body in bodies:
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"shop": {"DataType": "String", "StringValue": "s-1"}},
        )
    config = stack.esm_config(
        pollers=2,
        handler="tests.integration.stand_in_handler:handler",
        queue_url=url,
        queue_arn=arn,
        batch_size=5,
        env_overrides={"STAND_IN_OUT": str(tmp_path), "ORDERS_QUEUE_URL": url},
    )
    with EsmRunner(config) as runner:
        assert runner.wait_ready(timeout=120)

        def drained() -> bool:
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            return attrs == {
                "ApproximateNumberOfMessages": "0",
                "ApproximateNumberOfMessagesNotVisible": "0",
            }

        wait_until(drained, timeout=60)
        time.sleep(0.5)
        stats = runner.stats()

    seen = [
        json.loads(line) for f in tmp_path.glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    # each message is handled 1 + fail_times times, and deleted exactly once
    expected_receipts = sum(1 + i % 3 for i in range(12))
    assert len(seen) == expected_receipts == stats.records
    assert stats.deleted == 12
    assert stats.item_failures == expected_receipts - 12
    assert stats.batch_errors == 0
    assert len({s["record"]["body"] for s in seen}) == 12

    record = seen[0]["record"]
    assert set(record) >= {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == stack.config.region
    assert set(record["attributes"]) >= {
        "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    }  # fmt: skip
    assert record["messageAttributes"]["shop"] == {
        "stringValue": "s-1",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    context = seen[0]
    assert 0 < context["remaining_ms"] <= stack.config.poller_timeout_seconds * 1000
    assert context["memory"] == stack.config.poller_memory_mb
    assert context["arn"].startswith("arn:aws:lambda:")
    assert max(len(line["record"]["body"]) for line in seen) > 0
    assert all(s["request_id"] for s in seen)


def test_an_invocation_past_the_function_timeout_fails_its_whole_batch(
    stack: LocalStack, tmp_path: Path
) -> None:
    """Lambda stops a function at its timeout and discards its response: nothing is deleted."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="esm-runner-timeout", Attributes={"VisibilityTimeout": "60"})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1, "sleep": 1.5}))
    config = stack.esm_config(
        pollers=1,
        handler="tests.integration.stand_in_handler:handler",
        queue_url=url,
        queue_arn=arn,
        timeout_seconds=1,
        env_overrides={"STAND_IN_OUT": str(tmp_path), "ORDERS_QUEUE_URL": url},
    )
    with EsmRunner(config) as runner:
        assert runner.wait_ready(timeout=120)
        wait_until(lambda: runner.stats().batch_errors >= 1, timeout=60)
        stats = runner.stats()
    assert (stats.over_timeout, stats.batch_errors, stats.deleted) == (1, 1, 0)
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"  # back after its visibility


def test_invalid_batch_responses_fail_the_whole_batch_as_lambda_does() -> None:
    ids = ["a", "b"]
    assert failed_ids(None, ids) == set()
    assert failed_ids({"batchItemFailures": []}, ids) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) is None
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ids) is None
    assert failed_ids("nonsense", ids) is None
