"""Reading and redriving the dead-letter queue without losing a message.

`peek` receives every DLQ message with a short visibility timeout, then makes each visible again
at once: nothing is deleted. `redrive` copies a message's body byte for byte (and its
storefront-set attributes; the relay.* reasons describe the old death and are dropped) to the
orders queue, then deletes it from the DLQ; messages not selected are released at once. A crash
between copy and delete leaves a duplicate, which the relay's ledger absorbs (dedup keys on the
order id, never the message id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from relay.domain.order_message import canonical_order_id
from relay.names import DeadLetterAttr

PEEK_VISIBILITY_SECONDS = 30
SQS_BATCH = 10


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    order_id: str | None
    reason: str | None
    detail: str | None
    attempts: str | None
    last_status: str | None
    first_seen: str | None
    sent_timestamp_ms: int | None
    receive_count: int | None
    attributes: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Everything but the receipt handle and raw attributes (for --json output)."""
        return {
            "message_id": self.message_id,
            "order_id": self.order_id,
            "reason": self.reason,
            "detail": self.detail,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "first_seen": self.first_seen,
            "sent_timestamp_ms": self.sent_timestamp_ms,
            "body": self.body,
        }


def _string_attr(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    return None if value is None else value.get("StringValue")


def order_id_of(body: str, attributes: dict[str, Any]) -> str | None:
    from_attr = _string_attr(attributes, DeadLetterAttr.ORDER_ID)
    if from_attr:
        return from_attr
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = data.get("order_id") if isinstance(data, dict) else None
    # as the relay keys it (a UUID in lower case), so `dlq redrive ID` matches any spelling
    return canonical_order_id(value) if isinstance(value, str) else None


def to_dead_letter(message: dict[str, Any]) -> DeadLetter:
    attrs = message.get("MessageAttributes", {})
    system = message.get("Attributes", {})
    body = message.get("Body", "")
    sent = system.get("SentTimestamp")
    count = system.get("ApproximateReceiveCount")
    return DeadLetter(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=body,
        order_id=order_id_of(body, attrs),
        reason=_string_attr(attrs, DeadLetterAttr.REASON),
        detail=_string_attr(attrs, DeadLetterAttr.DETAIL),
        attempts=_string_attr(attrs, DeadLetterAttr.ATTEMPTS),
        last_status=_string_attr(attrs, DeadLetterAttr.LAST_STATUS),
        first_seen=_string_attr(attrs, DeadLetterAttr.FIRST_SEEN),
        sent_timestamp_ms=int(sent) if sent else None,
        receive_count=int(count) if count else None,
        attributes=attrs,
    )


def _receive_all(
    sqs: Any, queue_url: str, limit: int, wait_seconds: int
) -> Iterator[list[DeadLetter]]:
    """Batches of the queue's messages, each left invisible for PEEK_VISIBILITY_SECONDS."""
    seen = 0
    while seen < limit:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(SQS_BATCH, limit - seen),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return
        seen += len(messages)
        yield [to_dead_letter(m) for m in messages]


def release(sqs: Any, queue_url: str, letters: list[DeadLetter]) -> None:
    """Make received messages visible again now."""
    for start in range(0, len(letters), SQS_BATCH):
        chunk = letters[start : start + SQS_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
                for i, d in enumerate(chunk)
            ],
        )


def peek(sqs: Any, dlq_url: str, limit: int = 1000, wait_seconds: int = 1) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    try:
        for batch in _receive_all(sqs, dlq_url, limit, wait_seconds):
            letters.extend(batch)
    finally:
        release(sqs, dlq_url, letters)
    return letters


@dataclass
class RedriveResult:
    moved: list[DeadLetter] = field(default_factory=list)
    kept: int = 0


def _storefront_attributes(letter: DeadLetter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in letter.attributes.items():
        if name.startswith("relay."):
            continue
        out[name] = {
            k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")
        }
    return out


def redrive(
    sqs: Any,
    dlq_url: str,
    orders_queue_url: str,
    select: Callable[[DeadLetter], bool],
    limit: int = 100_000,
    wait_seconds: int = 1,
) -> RedriveResult:
    """Move the selected messages; the others stay invisible until the scan ends, so each
    message is looked at once, then all of them are released together."""
    result = RedriveResult()
    others: list[DeadLetter] = []
    try:
        for batch in _receive_all(sqs, dlq_url, limit, wait_seconds):
            for letter in batch:
                if not select(letter):
                    others.append(letter)
                    continue
                kwargs: dict[str, Any] = {"QueueUrl": orders_queue_url, "MessageBody": letter.body}
                attributes = _storefront_attributes(letter)
                if attributes:
                    kwargs["MessageAttributes"] = attributes
                sqs.send_message(**kwargs)
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle)
                result.moved.append(letter)
    finally:
        release(sqs, dlq_url, others)
    result.kept = len(others)
    return result
