"""A stand-in for the poller, used only by the ESM runner's own test.

It appends every record it gets (and the context it ran with) to one JSON-lines file per
process, and reports a record as failed, made visible again at once, until it has been received
`fail_times` + 1 times. A body's `sleep` (seconds) makes the invocation take that long.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import boto3


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    out = Path(os.environ["STAND_IN_OUT"]) / f"{os.getpid()}.jsonl"
    sqs = boto3.client("sqs")
    failures = []
    with out.open("a") as f:
        for record in event["Records"]:
            body = json.loads(record["body"])
            time.sleep(body.get("sleep", 0))
            f.write(
                json.dumps(
                    {
                        "record": record,
                        "remaining_ms": context.get_remaining_time_in_millis(),
                        "function_name": context.function_name,
                        "request_id": context.aws_request_id,
                        "memory": context.memory_limit_in_mb,
                        "arn": context.invoked_function_arn,
                    }
                )
                + "\n"
            )
            if int(record["attributes"]["ApproximateReceiveCount"]) < body.get("fail_times", 0) + 1:
                sqs.change_message_visibility(
                    QueueUrl=os.environ["ORDERS_QUEUE_URL"],
                    ReceiptHandle=record["receiptHandle"],
                    VisibilityTimeout=0,
                )
                failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
