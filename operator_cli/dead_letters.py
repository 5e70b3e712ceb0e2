"""Reading, redriving and purging the dead-letter queue without losing a message.

Every operation is one *scan*: it receives the DLQ's messages batch by batch and keeps each one it
has received invisible (`Hold`) until the scan ends, extending the visibility of the held messages
before it runs out, so a long scan never sees a message twice and other readers do not see it
meanwhile. At the end every message the scan did not move or delete is made visible again at once.

- `peek` moves nothing.
- `redrive` copies each selected message's body byte for byte (and its storefront-set attributes;
  the relay.* reasons describe the old death and are dropped) to the orders queue, then deletes it
  from the DLQ. A crash between copy and delete leaves a duplicate, which the relay's ledger
  absorbs (dedup keys on the order id, never the message id).
- `purge` deletes the selected messages (poison: they can never succeed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from relay.domain.order_message import canonical_order_id, is_valid_order_id
from relay.names import DeadLetterAttr

PEEK_VISIBILITY_SECONDS = 30
# Held messages whose visibility ends within this many seconds are extended before the next call.
EXTEND_MARGIN_SECONDS = 12
SQS_BATCH = 10

# relay.reason values (README, "Dead letters"). Poison can never succeed: redriving it only sends
# it straight back to the DLQ. A dead letter without relay.reason was moved by the queue's
# maxReceiveCount (a crash loop); filters call that reason NO_REASON.
POISON_REASONS: Final = frozenset(
    {
        "empty_body",
        "not_json",
        "not_object",
        "unknown_version",
        "missing_order_id",
        "invalid_order_id",
    }
)
DELIVERABLE_REASONS: Final = frozenset(
    {"deadline", "not_found", "supplier_unavailable", "webhook_rejected", "webhook_unavailable"}
)
NO_REASON: Final = "none"
KNOWN_REASONS: Final = POISON_REASONS | DELIVERABLE_REASONS | {NO_REASON}


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

    @property
    def reason_key(self) -> str:
        """The reason as filters name it (NO_REASON when the relay attached none)."""
        return self.reason or NO_REASON

    @property
    def is_poison(self) -> bool:
        return self.reason in POISON_REASONS

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
    if not is_valid_order_id(value):
        return None  # never an id the relay would refuse (and never untrusted text to print)
    # as the relay keys it (a UUID in lower case), so `dlq redrive ID` matches any spelling
    return canonical_order_id(str(value))


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


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), SQS_BATCH):
        yield items[start : start + SQS_BATCH]


def _set_visibility(sqs: Any, queue_url: str, handles: list[str], seconds: int) -> set[int]:
    """ChangeMessageVisibility for these receipt handles; the indexes that failed."""
    failed: set[int] = set()
    for offset in range(0, len(handles), SQS_BATCH):
        chunk = handles[offset : offset + SQS_BATCH]
        response = sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for i, handle in enumerate(chunk)
            ],
        )
        failed.update(offset + int(f["Id"]) for f in response.get("Failed", []))
    return failed


def release(sqs: Any, queue_url: str, letters: list[DeadLetter]) -> None:
    """Make received messages visible again now."""
    _set_visibility(sqs, queue_url, [d.receipt_handle for d in letters], 0)


class Hold:
    """The messages one scan has received and not yet moved: invisible until `release`.

    `keep_hidden` extends the visibility of every held message whose visibility ends within
    EXTEND_MARGIN_SECONDS, so however long the scan takes, it does not receive them again. A
    message that is received again all the same (an extension failed) is recognised by its
    message id: `add` returns only the new ones and keeps the newest receipt handle.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        visibility_seconds: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._visibility = visibility_seconds or PEEK_VISIBILITY_SECONDS
        self._clock = clock
        self._held: dict[str, tuple[DeadLetter, float]] = {}  # message id -> (letter, hidden until)
        self._done: set[str] = set()  # moved or deleted during this scan
        self.margin = min(EXTEND_MARGIN_SECONDS, self._visibility / 2)
        self.extensions = 0  # ChangeMessageVisibility entries sent to keep messages hidden

    @property
    def visibility(self) -> int:
        return self._visibility

    def now(self) -> float:
        return self._clock()

    def __len__(self) -> int:
        return len(self._held)

    @property
    def letters(self) -> list[DeadLetter]:
        return [letter for letter, _ in self._held.values()]

    def add(self, letters: Iterable[DeadLetter], received_at: float) -> list[DeadLetter]:
        hidden_until = received_at + self._visibility
        new: list[DeadLetter] = []
        for letter in letters:
            if letter.message_id in self._done:
                continue
            if letter.message_id not in self._held:
                new.append(letter)
            self._held[letter.message_id] = (letter, hidden_until)
        return new

    def drop(self, letter: DeadLetter) -> None:
        """The message left the queue (moved or deleted): nothing to extend or release."""
        self._held.pop(letter.message_id, None)
        self._done.add(letter.message_id)

    def keep_hidden(self) -> None:
        now = self._clock()
        due = [
            letter for letter, until in self._held.values() if until - now <= EXTEND_MARGIN_SECONDS
        ]
        if not due:
            return
        failed = _set_visibility(
            self._sqs, self._queue_url, [d.receipt_handle for d in due], self._visibility
        )
        self.extensions += len(due)
        for index, letter in enumerate(due):
            if index not in failed:  # a failed one may be received again: `add` knows it
                self._held[letter.message_id] = (letter, now + self._visibility)

    def release(self) -> None:
        release(self._sqs, self._queue_url, self.letters)
        self._held.clear()


ScanProgress = Callable[[int], None]  # called with the number of messages newly looked at


def _scan(
    sqs: Any,
    queue_url: str,
    hold: Hold,
    limit: int,
    wait_seconds: int,
    progress: ScanProgress | None,
) -> Iterator[list[DeadLetter]]:
    """Batches of messages not seen before in this scan, each held by `hold`."""
    seen = 0
    while seen < limit:
        hold.keep_hidden()
        received_at = hold.now()
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(SQS_BATCH, limit - seen),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=hold.visibility,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return
        batch = hold.add([to_dead_letter(m) for m in messages], received_at)
        seen += len(batch)
        if progress is not None:
            progress(len(batch))
        if batch:
            yield batch


def peek(
    sqs: Any,
    dlq_url: str,
    limit: int = 1000,
    wait_seconds: int = 1,
    progress: ScanProgress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[DeadLetter]:
    """Every message (up to `limit`), each looked at once; all are visible again afterwards."""
    hold = Hold(sqs, dlq_url, clock=clock)
    letters: list[DeadLetter] = []
    try:
        for batch in _scan(sqs, dlq_url, hold, limit, wait_seconds, progress):
            letters.extend(batch)
    finally:
        hold.release()
    return letters


@dataclass
class RedriveResult:
    moved: list[DeadLetter] = field(default_factory=list)
    kept: int = 0
    failed: list[DeadLetter] = field(default_factory=list)  # copy refused: left in the DLQ


def _storefront_attributes(letter: DeadLetter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in letter.attributes.items():
        if name.startswith("relay."):
            continue
        out[name] = {
            k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")
        }
    return out


def _copy(sqs: Any, queue_url: str, letters: list[DeadLetter]) -> set[int]:
    """SendMessageBatch of the letters' bodies (byte for byte); the indexes that failed."""
    entries = []
    for i, letter in enumerate(letters):
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": letter.body}
        attributes = _storefront_attributes(letter)
        if attributes:
            entry["MessageAttributes"] = attributes
        entries.append(entry)
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return {int(f["Id"]) for f in response.get("Failed", [])}


def _delete(sqs: Any, queue_url: str, letters: list[DeadLetter]) -> set[int]:
    """DeleteMessageBatch; the indexes that failed."""
    response = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(letters)],
    )
    return {int(f["Id"]) for f in response.get("Failed", [])}


def redrive(
    sqs: Any,
    dlq_url: str,
    orders_queue_url: str,
    select: Callable[[DeadLetter], bool],
    limit: int = 100_000,
    wait_seconds: int = 1,
    progress: ScanProgress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RedriveResult:
    """Move the selected messages; the others stay invisible until the scan ends, so each
    message is looked at once, then all of them are released together."""
    result = RedriveResult()
    hold = Hold(sqs, dlq_url, clock=clock)
    try:
        for batch in _scan(sqs, dlq_url, hold, limit, wait_seconds, progress):
            chosen = [letter for letter in batch if select(letter)]
            if not chosen:
                continue
            failed = _copy(sqs, orders_queue_url, chosen)
            copied = [d for i, d in enumerate(chosen) if i not in failed]
            result.failed.extend(d for i, d in enumerate(chosen) if i in failed)
            # a copy whose delete failed stays held (released at the end): the DLQ keeps a
            # duplicate of a redriven message, which the ledger absorbs if it is redriven again
            undeleted = _delete(sqs, dlq_url, copied) if copied else set()
            for i, letter in enumerate(copied):
                if i not in undeleted:
                    hold.drop(letter)
            result.moved.extend(copied)
    finally:
        result.kept = len(hold)
        hold.release()
    return result


@dataclass
class PurgeResult:
    deleted: list[DeadLetter] = field(default_factory=list)
    kept: int = 0


def purge(
    sqs: Any,
    dlq_url: str,
    select: Callable[[DeadLetter], bool],
    limit: int = 100_000,
    wait_seconds: int = 1,
    progress: ScanProgress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PurgeResult:
    """Delete the selected messages for good; the others are released when the scan ends."""
    result = PurgeResult()
    hold = Hold(sqs, dlq_url, clock=clock)
    try:
        for batch in _scan(sqs, dlq_url, hold, limit, wait_seconds, progress):
            chosen = [letter for letter in batch if select(letter)]
            if not chosen:
                continue
            undeleted = _delete(sqs, dlq_url, chosen)
            for i, letter in enumerate(chosen):
                if i not in undeleted:  # else it stays held and is released at the end
                    hold.drop(letter)
                    result.deleted.append(letter)
    finally:
        result.kept = len(hold)
        hold.release()
    return result


def approximate_depth(sqs: Any, queue_url: str) -> int | None:
    """SQS's estimate of the queue's visible messages (for a progress bar's total)."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    value = attrs.get("Attributes", {}).get("ApproximateNumberOfMessages")
    return int(value) if value is not None else None
