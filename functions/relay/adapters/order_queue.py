"""The orders queue and its DLQ: visibility backoff and dead letters with their reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.names import DeadLetterAttr

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_MAX_ATTRIBUTE_CHARS = 1024


@dataclass(frozen=True)
class DeadLetterReason:
    """Why a message went to the DLQ: the attributes on-call reads before a redrive."""

    reason: str
    detail: str
    attempts: int
    first_seen: float  # epoch seconds: when the message was enqueued
    last_status: str | None = None
    order_id: str | None = None


def dead_letter_attributes(why: DeadLetterReason) -> dict[str, Any]:
    """SQS message attributes carrying the why; the body itself is never rewritten."""
    attrs: dict[str, Any] = {
        DeadLetterAttr.REASON: _text(why.reason),
        DeadLetterAttr.DETAIL: _text(why.detail),
        DeadLetterAttr.ATTEMPTS: {"DataType": "Number", "StringValue": str(why.attempts)},
        DeadLetterAttr.FIRST_SEEN: {"DataType": "Number", "StringValue": f"{why.first_seen:.3f}"},
    }
    if why.last_status:
        attrs[DeadLetterAttr.LAST_STATUS] = _text(why.last_status)
    if why.order_id:
        attrs[DeadLetterAttr.ORDER_ID] = _text(why.order_id)
    return attrs


class OrderQueue:
    def __init__(self, client: SQSClient, queue_url: str, dlq_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url
        self._dlq_url = dlq_url

    def reschedule(self, receipt_handle: str, visibility_seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=visibility_seconds,
        )

    def dead_letter(self, body: str, why: DeadLetterReason) -> None:
        """Copy the original body byte for byte to the DLQ. The caller reports the record as a
        success so the event source mapping deletes the original: a crash in between leaves the
        original to be processed (and dead-lettered) again, never lost."""
        self._sqs.send_message(
            QueueUrl=self._dlq_url,
            MessageBody=body,
            MessageAttributes=dead_letter_attributes(why),
        )


def _text(value: str) -> dict[str, str]:
    clean = (
        value if len(value) <= _MAX_ATTRIBUTE_CHARS else value[: _MAX_ATTRIBUTE_CHARS - 3] + "..."
    )
    return {"DataType": "String", "StringValue": clean or "-"}
