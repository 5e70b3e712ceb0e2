"""An SQS batch handled concurrently, answered with a partial batch response.

What the poller used Powertools' `utilities.batch` for, without loading it: that package imports
every event data class it supports (DynamoDB streams, Kinesis, Kafka, ...) when it is imported,
about 40 ms of the poller's cold import, for a loop of a few lines. The contract is the same:
- every record of the batch is handled at once, concurrently, in one event loop;
- a record whose handler raises is listed in `batchItemFailures` (the event source mapping
  deletes the others; SQS shows the failed ones again when their visibility timeout ends);
- a batch in which every record failed is a normal response too, never an exception (an
  exception would make every record of the batch visible again, the delivered ones included).
- In Lambda (`LAMBDA_TASK_ROOT` set) one event loop serves every invocation of the process, so
  warm invocations reuse the HTTP connections bound to it; elsewhere each batch runs in a loop of
  its own (`asyncio.run`). Powertools' AsyncBatchProcessor does the same.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypedDict, TypeVar

SqsRecord = Mapping[str, Any]  # one entry of the event's `Records`, as Lambda sends it
T = TypeVar("T")


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


async def handle_batch(
    records: Sequence[SqsRecord], handle: Callable[[SqsRecord], Awaitable[object]]
) -> PartialBatchResponse:
    """Handle every record concurrently; the ones whose handler raised are the failures."""
    results = await asyncio.gather(*(handle(r) for r in records), return_exceptions=True)
    return {
        "batchItemFailures": [
            {"itemIdentifier": str(record.get("messageId", ""))}
            for record, result in zip(records, results, strict=True)
            if isinstance(result, BaseException)
        ]
    }


_lambda_loop: asyncio.AbstractEventLoop | None = None


def run_in_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion: in Lambda's event loop for this process, or in a new one."""
    global _lambda_loop  # noqa: PLW0603 - one loop per Lambda process, reused while warm
    if not os.environ.get("LAMBDA_TASK_ROOT"):
        return asyncio.run(coroutine)
    if _lambda_loop is None or _lambda_loop.is_closed():
        _lambda_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_lambda_loop)
    return _lambda_loop.run_until_complete(coroutine)


def records_of(event: Mapping[str, Any]) -> list[SqsRecord]:
    """The event's records (none when the event has no `Records` list)."""
    records = event.get("Records")
    return [r for r in records if isinstance(r, Mapping)] if isinstance(records, list) else []
