"""Poller Lambda: SQS batch of order messages → FoxReload polls → deliveries (thin entry point).

Settings and clients are built once per cold start; the records of a batch are processed
concurrently; rescheduling is a normal per-item failure (partial batch response).

The tracer is built by the first invocation, not by the import: creating it imports the X-Ray SDK
and patches botocore, which the module's import (Lambda's init phase) then leaves out; the first
invocation pays it once instead. It is built before the runtime, so every AWS client the relay
creates is patched, and it records what it did before (the `## handler` subsegment with the
ColdStart and Service annotations, no response).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.domain.order_message import OrderMessage, parse_order_message
from relay.domain.results import ProcessResult
from relay.handlers.sqs_batch import (
    PartialBatchResponse,
    SqsRecord,
    handle_batch,
    records_of,
    run_in_loop,
)
from relay.names import TRACED_MODULES
from relay.runtime import PollerRuntime
from relay.service.order_relay import QueueRecord, Rescheduled
from relay.settings import POLLER_END_MARGIN_SECONDS

logger = Logger()
metrics = Metrics()
_runtime: PollerRuntime | None = None


def runtime() -> PollerRuntime:
    global _runtime  # noqa: PLW0603 - one runtime per cold start, built on first use
    if _runtime is None:
        _runtime = PollerRuntime.from_env(os.environ, logger, metrics)
    return _runtime


async def record_handler(
    record: SqsRecord, lambda_context: LambdaContext | None = None
) -> ProcessResult:
    item = queue_record(record)
    logger.thread_safe_append_keys(message_id=item.message_id, order_id=_order_hint(item.body))
    relay = runtime().relay
    until = None
    if lambda_context is not None:  # no request or send may outlive the invocation
        remaining = lambda_context.get_remaining_time_in_millis() / 1000.0
        until = relay.deps.clock() + remaining - POLLER_END_MARGIN_SECONDS
    try:
        return await relay.process(item, until=until)
    except Rescheduled:
        raise  # a normal item failure: the message comes back after its new visibility timeout
    except Exception:
        logger.exception("unexpected error; the message will be retried")
        raise


Handler = Callable[[dict[str, Any], LambdaContext], PartialBatchResponse]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return traced_handler()(event, context)


@functools.cache
def traced_handler() -> Handler:
    """The batch handler under the tracer, both built once per process on first use."""
    tracer = Tracer(patch_modules=TRACED_MODULES)

    def handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
        records = records_of(event)
        return run_in_loop(handle_batch(records, lambda r: record_handler(r, context)))

    traced: Handler = tracer.capture_lambda_handler(handler, capture_response=False)
    return traced


def queue_record(record: SqsRecord) -> QueueRecord:
    """The SQS record as the relay reads it (receive count and enqueue time included); a record
    without its id, receipt handle or send time raises (it fails, and SQS shows it again)."""
    attrs: Mapping[str, Any] = record.get("attributes") or {}
    return QueueRecord(
        message_id=str(record["messageId"]),
        receipt_handle=str(record["receiptHandle"]),
        body=str(record.get("body") or ""),
        receive_count=int(attrs.get("ApproximateReceiveCount") or 1),
        sent_at=int(attrs["SentTimestamp"]) / 1000.0,
    )


def _order_hint(body: str) -> str | None:
    """The order id for log lines, only once it has been validated (never raw input)."""
    parsed = parse_order_message(body)
    return parsed.order_id if isinstance(parsed, OrderMessage) else None
