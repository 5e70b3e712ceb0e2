"""The delivery ledger in DynamoDB: one item per order, conditional writes only.

Exactly-once protocol (README, "How it works"): `claim` takes a lease (absent, or expired) →
the caller sends the webhook with a stable Idempotency-Key → `mark_terminal` records the outcome
(conditional on still owning the lease, or on nobody having recorded an outcome). A crash
anywhere leaves either a recorded outcome or a lease that expires and is taken over by the next
attempt. Codes are never written here.

The attempt log (relay.domain.attempt_log) rides on the writes that already end an attempt:
`claim` returns the current log, and `mark_terminal` / `release` write it back with the new entry
(the whole bounded list, rewritten), so logging costs no extra request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from relay.adapters.dynamo_expressions import UpdateExpression
from relay.domain.attempt_log import Attempt
from relay.domain.events import Event, for_event
from relay.domain.hours import hour_bucket
from relay.names import Ledger as LedgerNames
from relay.settings import DEFAULT_LEDGER_TTL_DAYS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ClaimStatus(Enum):
    CLAIMED = "claimed"
    ALREADY_DONE = "already_done"
    BUSY = "busy"  # another worker holds a live lease
    NOT_OURS = "not_ours"  # no message for this order was ever received: never delivered


@dataclass(frozen=True)
class Claim:
    """What a delivery claim on an order's ledger item found: granted, held by another, or done."""

    status: ClaimStatus
    lease_until: float | None = None
    outcome: str | None = None
    terminal_seen_at: float | None = None
    attempt_log: tuple[Attempt, ...] = ()  # the item's log as the claim found it


@dataclass(frozen=True)
class OrderRecord:
    """An order's ledger item, read back: acceptance, outcome, lease and attempts."""

    order_id: str
    accepted_at: float | None
    storefront_ref: str | None
    outcome: str | None
    outcome_at: float | None
    terminal_seen_at: float | None
    lease_until: float | None
    attempts: int
    dead_lettered_at: float | None
    dead_letter_reason: str | None
    last_status: str | None
    last_message_at: float | None = None
    webhook_rejected_at: float | None = None
    outcome_event: str | None = None
    attempt_log: tuple[Attempt, ...] = ()

    def rejected_before(self, sent_at: float) -> bool:
        """The storefront refused this order's webhook for good after `sent_at`: a message sent
        earlier is settled (dead-letter it); one sent later (a redrive) tries again."""
        return self.webhook_rejected_at is not None and sent_at <= self.webhook_rejected_at


@dataclass(frozen=True, kw_only=True)
class TerminalSight:
    """A worker saw the order terminal at FoxReload: stored once (the first sight starts the
    delivery window), with its price, and in the spend index when FoxReload `charged` it."""

    seen_at: float
    total_price: float | None = None
    charged: bool = False


@dataclass(frozen=True, kw_only=True)
class ClaimRequest:
    """A claim of the right to deliver an order, leased to one attempt for a while."""

    order_id: str
    owner: str  # this attempt's lease owner
    now: float
    lease_seconds: float
    sight: TerminalSight


@dataclass(frozen=True, kw_only=True)
class OutcomeRequest:
    """The storefront accepted the webhook for `event`: the outcome to record."""

    order_id: str
    owner: str  # the lease owner that sent it
    event: Event
    now: float
    total_price: float | None
    cancel_reason: str | None
    last_status: str  # FoxReload's status the webhook was about
    attempts: Sequence[Attempt] | None = None  # the claim's log plus this attempt


@dataclass(frozen=True, kw_only=True)
class ReleaseRequest:
    """Giving a delivery lease back after a webhook that did not go through."""

    order_id: str
    owner: str
    attempts: Sequence[Attempt] | None = None  # the attempt log to store in the same write


def outcome_for_event(event: str) -> str:
    """The ledger's `outcome` for a webhook event (relay.domain.events)."""
    return for_event(event).outcome.value


class LedgerTable:
    def __init__(
        self, client: DynamoDBClient, table_name: str, ttl_days: int = DEFAULT_LEDGER_TTL_DAYS
    ) -> None:
        self._db = client
        self._table = table_name
        self._ttl_seconds = ttl_days * 86400

    def touch(
        self, order_id: str, *, sent_at: float, storefront_ref: str | None, now: float
    ) -> OrderRecord:
        """Record that a message for this order was received (idempotent) and return the item.

        First sight sets accepted_at (the message's enqueue time) and its hour bucket for the
        stuck-orders index; later sights only count the attempt. One write per receive, which
        also tells a duplicate or late message that the order is already done.
        """
        expression = (
            UpdateExpression()
            .set_if_absent(LedgerNames.ACCEPTED_AT, {"N": number(sent_at)})
            .set_if_absent(LedgerNames.ACCEPTED_HOUR, {"S": hour_bucket(sent_at)})
            .set(LedgerNames.TTL_ATTRIBUTE, {"N": str(int(now + self._ttl_seconds))})
            .set(LedgerNames.LAST_MESSAGE_AT, {"N": number(sent_at)})
            .add("attempts", {"N": "1"})
        )
        if storefront_ref:
            expression.set_if_absent(LedgerNames.STOREFRONT_REF, {"S": storefront_ref})
        elif storefront_ref is not None:  # "" cannot be a key of the storefront_ref index
            expression.set_if_absent(LedgerNames.STOREFRONT_REF_EMPTY, {"BOOL": True})
        response = self._db.update_item(
            TableName=self._table,
            Key=self._key(order_id),
            ReturnValues="ALL_NEW",
            **expression.arguments(),
        )
        return _record(order_id, response.get("Attributes", {}))

    def get(self, order_id: str) -> OrderRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(order_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else _record(order_id, item)

    def batch_get(self, order_ids: list[str]) -> dict[str, OrderRecord]:
        """The ledger items of these orders (absent ones are not ours, or not accepted yet)."""
        found: dict[str, OrderRecord] = {}
        unique = list(dict.fromkeys(order_ids))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [self._key(order_id) for order_id in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for _ in range(5):
                response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    order_id = str(item[LedgerNames.PARTITION_KEY]["S"])
                    found[order_id] = _record(order_id, dict(item))
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
        return found

    def claim(self, request: ClaimRequest) -> Claim:
        """Take the delivery lease of an order the relay accepted (a message was received for
        it: `touch` wrote accepted_at); a claim never creates an item, so an id spelled another
        way than the message's is never delivered a second time under a second key.

        Also records the terminal sight (`request.sight`): when the order was first seen
        terminal, its price, and, when FoxReload charged it, its place in the spend index under
        the hour it was first seen terminal: spend is counted even if the webhook is later
        rejected."""
        until = request.now + request.lease_seconds
        expression = (
            UpdateExpression()
            .set(LedgerNames.LEASE_OWNER, {"S": request.owner})
            .set(LedgerNames.LEASE_UNTIL, {"N": number(until)})
        )
        _set_terminal_sight(expression, request.sight)
        lease_until = expression.name(LedgerNames.LEASE_UNTIL)
        expression.condition(
            f"attribute_exists({expression.name(LedgerNames.ACCEPTED_AT)}) "
            f"AND attribute_not_exists({expression.name(LedgerNames.OUTCOME)}) "
            f"AND (attribute_not_exists({lease_until}) "
            f"OR {lease_until} < {expression.value({'N': number(request.now)})})"
        )
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._key(request.order_id),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            error_response: dict[str, Any] = dict(exc.response)
            old: dict[str, Any] = error_response.get("Item", {})
            if LedgerNames.ACCEPTED_AT not in old:
                return Claim(ClaimStatus.NOT_OURS)
            outcome = _s(old, LedgerNames.OUTCOME)
            if outcome is not None:
                return Claim(ClaimStatus.ALREADY_DONE, outcome=outcome)
            return Claim(ClaimStatus.BUSY, lease_until=_n(old, LedgerNames.LEASE_UNTIL))
        new = response.get("Attributes", {})
        return Claim(
            ClaimStatus.CLAIMED,
            lease_until=until,
            terminal_seen_at=_n(new, LedgerNames.TERMINAL_SEEN_AT),
            attempt_log=attempts_of(new),
        )

    def note_terminal(self, order_id: str, sight: TerminalSight) -> float | None:
        """Record the terminal sight (first time, price, spend) without taking the lease:
        a delivery parked while the storefront is down still starts its delivery window and
        counts as spend. Returns the stored first sight; None if the order is not ours."""
        expression = _set_terminal_sight(UpdateExpression(), sight)
        expression.condition(f"attribute_exists({expression.name(LedgerNames.ACCEPTED_AT)})")
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._key(order_id),
                ReturnValues="ALL_NEW",
                **expression.arguments(),
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return _n(response.get("Attributes", {}), LedgerNames.TERMINAL_SEEN_AT)

    def mark_terminal(self, request: OutcomeRequest) -> bool:
        """Record the outcome once the storefront accepted the webhook.

        Conditional on still owning the lease, or on no outcome being recorded yet: the webhook
        was accepted, so the order is delivered even if our lease lapsed meanwhile. False means
        another worker recorded it first (it is done either way).
        """
        expression = (
            UpdateExpression()
            .set(LedgerNames.OUTCOME, {"S": outcome_for_event(request.event)})
            .set(LedgerNames.OUTCOME_EVENT, {"S": request.event})
            .set(LedgerNames.OUTCOME_AT, {"N": number(request.now)})
            .set(LedgerNames.LAST_STATUS, {"S": request.last_status})
        )
        if request.total_price is not None:
            expression.set(LedgerNames.TOTAL_PRICE, {"N": number(request.total_price)})
        if request.cancel_reason is not None:
            expression.set(LedgerNames.CANCEL_REASON, {"S": request.cancel_reason})
        if request.attempts is not None:
            _set_attempt_log(expression, request.attempts)
        expression.remove(LedgerNames.LEASE_OWNER, LedgerNames.LEASE_UNTIL)
        owner = expression.value({"S": request.owner})
        expression.condition(
            f"{expression.name(LedgerNames.LEASE_OWNER)} = {owner} "
            f"OR attribute_not_exists({expression.name(LedgerNames.OUTCOME)})"
        )
        try:
            self._db.update_item(
                TableName=self._table, Key=self._key(request.order_id), **expression.arguments()
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, request: ReleaseRequest) -> None:
        """Give the lease back after a webhook that did not go through, so a retry need not wait;
        with `attempts`, store that attempt log in the same write."""
        expression = UpdateExpression()
        if request.attempts is not None:
            _set_attempt_log(expression, request.attempts)
        expression.remove(LedgerNames.LEASE_OWNER, LedgerNames.LEASE_UNTIL)
        expression.condition(
            f"{expression.name(LedgerNames.LEASE_OWNER)} = {expression.value({'S': request.owner})}"
        )
        try:
            self._db.update_item(
                TableName=self._table, Key=self._key(request.order_id), **expression.arguments()
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def record_rejection(self, order_id: str, now: float, last_status: str) -> None:
        """The storefront refused the webhook for good; `last_status` is the FoxReload status
        it was about, so another worker dead-lettering this order can say it too."""
        expression = (
            UpdateExpression()
            .set(LedgerNames.WEBHOOK_REJECTED_AT, {"N": number(now)})
            .set(LedgerNames.LAST_STATUS, {"S": last_status})
        )
        self._db.update_item(
            TableName=self._table, Key=self._key(order_id), **expression.arguments()
        )

    def record_dead_letter(
        self, order_id: str, *, reason: str, last_status: str | None, now: float
    ) -> None:
        expression = (
            UpdateExpression()
            .set(LedgerNames.DEAD_LETTERED_AT, {"N": number(now)})
            .set(LedgerNames.DEAD_LETTER_REASON, {"S": reason})
        )
        if last_status:
            expression.set(LedgerNames.LAST_STATUS, {"S": last_status})
        self._db.update_item(
            TableName=self._table, Key=self._key(order_id), **expression.arguments()
        )

    def record_attempts(
        self, order_id: str, attempts: Sequence[Attempt], after: int | None
    ) -> bool:
        """Store the attempt log of an attempt made without the lease (an operator's
        redelivery), conditional on the log still ending at attempt number `after` (None: no
        attempt yet): False means another attempt was logged meanwhile (read again, retry)."""
        expression = _set_attempt_log(UpdateExpression(), attempts)
        expression.condition(f"attribute_exists({expression.name(LedgerNames.ACCEPTED_AT)})")
        last = expression.name(LedgerNames.LAST_ATTEMPT)
        if after is None:
            expression.condition(f"attribute_not_exists({last})")
        else:
            expression.condition(f"{last} = {expression.value({'N': str(after)})}")
        try:
            self._db.update_item(
                TableName=self._table, Key=self._key(order_id), **expression.arguments()
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def order_ids_for_ref(self, storefront_ref: str) -> list[str]:
        """The orders whose message carried this storefront reference, oldest first."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LedgerNames.STOREFRONT_REF_INDEX,
            "KeyConditionExpression": "#ref = :ref",
            "ExpressionAttributeNames": {"#ref": LedgerNames.STOREFRONT_REF_INDEX_PARTITION},
            "ExpressionAttributeValues": {":ref": {"S": storefront_ref}},
        }
        return [
            str(item[LedgerNames.PARTITION_KEY]["S"]) for item in all_items(self._db.query, request)
        ]

    @staticmethod
    def _key(order_id: str) -> dict[str, Any]:
        return {LedgerNames.PARTITION_KEY: {"S": order_id}}


def condition_failed(exc: ClientError) -> bool:
    """The conditional write lost: DynamoDB said the condition did not hold."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def all_items(
    call: Callable[..., Mapping[str, Any]], request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan (`call` is the client's `query` or `scan`), page by page."""
    request = dict(request)
    while True:
        page = call(**request)
        yield from page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def _set_terminal_sight(expression: UpdateExpression, sight: TerminalSight) -> UpdateExpression:
    """The first terminal sight, its price and its spend-index hour as SET actions."""
    seen = number(sight.seen_at)  # the hour must be that of the stored (rounded) time
    expression.set_if_absent(LedgerNames.TERMINAL_SEEN_AT, {"N": seen})
    if sight.total_price is not None:
        expression.set(LedgerNames.TOTAL_PRICE, {"N": number(sight.total_price)})
    if sight.charged:
        expression.set_if_absent(LedgerNames.CHARGED_HOUR, {"S": hour_bucket(float(seen))})
    return expression


def _set_attempt_log(expression: UpdateExpression, attempts: Sequence[Attempt]) -> UpdateExpression:
    """SET actions writing the whole attempt log and the number of its newest entry."""
    newest = max((a.number for a in attempts), default=0)
    expression.set(LedgerNames.ATTEMPT_LOG, {"L": [_attempt_item(a) for a in attempts]})
    return expression.set(LedgerNames.LAST_ATTEMPT, {"N": str(newest)})


def _attempt_item(attempt: Attempt) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "n": {"N": str(attempt.number)},
        "at": {"N": number(attempt.at)},
        "actor": {"S": attempt.actor},
        "ms": {"N": str(attempt.latency_ms)},
    }
    if attempt.status_code is not None:
        entry["status"] = {"N": str(attempt.status_code)}
    else:
        entry["failure"] = {"S": attempt.failure or "connection"}
    return {"M": entry}


def attempts_of(item: Mapping[str, Any]) -> tuple[Attempt, ...]:
    """The attempt log stored in a ledger item (low-level attribute values), oldest first."""
    stored = item.get(LedgerNames.ATTEMPT_LOG, {}).get("L", [])
    out: list[Attempt] = []
    for value in stored:
        entry = value.get("M", {})
        try:
            status = entry.get("status")
            out.append(
                Attempt(
                    number=int(entry["n"]["N"]),
                    at=float(entry["at"]["N"]),
                    actor=str(entry["actor"]["S"]),
                    status_code=None if status is None else int(status["N"]),
                    failure=None if "failure" not in entry else str(entry["failure"]["S"]),
                    latency_ms=int(entry.get("ms", {}).get("N", "0")),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # an entry this version cannot read is skipped, never fatal
    return tuple(sorted(out, key=lambda a: a.number))


def number(value: float) -> str:
    """A DynamoDB number: epoch seconds and prices to the millisecond / tenth of a cent."""
    return f"{value:.3f}"


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value.get("S"))


def _n(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name)
    return None if value is None else float(value["N"])


def _storefront_ref(item: dict[str, Any]) -> str | None:
    ref = _s(item, LedgerNames.STOREFRONT_REF)
    if ref is None and LedgerNames.STOREFRONT_REF_EMPTY in item:
        return ""
    return ref


def _record(order_id: str, item: dict[str, Any]) -> OrderRecord:
    attempts = _n(item, "attempts")
    return OrderRecord(
        order_id=order_id,
        accepted_at=_n(item, LedgerNames.ACCEPTED_AT),
        storefront_ref=_storefront_ref(item),
        outcome=_s(item, LedgerNames.OUTCOME),
        outcome_at=_n(item, LedgerNames.OUTCOME_AT),
        terminal_seen_at=_n(item, LedgerNames.TERMINAL_SEEN_AT),
        lease_until=_n(item, LedgerNames.LEASE_UNTIL),
        attempts=int(attempts or 0),
        dead_lettered_at=_n(item, LedgerNames.DEAD_LETTERED_AT),
        dead_letter_reason=_s(item, LedgerNames.DEAD_LETTER_REASON),
        last_status=_s(item, LedgerNames.LAST_STATUS),
        last_message_at=_n(item, LedgerNames.LAST_MESSAGE_AT),
        webhook_rejected_at=_n(item, LedgerNames.WEBHOOK_REJECTED_AT),
        outcome_event=_s(item, LedgerNames.OUTCOME_EVENT),
        attempt_log=attempts_of(item),
    )
