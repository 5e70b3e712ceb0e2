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

from relay.domain.attempt_log import Attempt
from relay.domain.events import for_event
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
    status: ClaimStatus
    lease_until: float | None = None
    outcome: str | None = None
    terminal_seen_at: float | None = None
    attempt_log: tuple[Attempt, ...] = ()  # the item's log as the claim found it


@dataclass(frozen=True)
class OrderRecord:
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
        self, order_id: str, sent_at: float, storefront_ref: str | None, now: float
    ) -> OrderRecord:
        """Record that a message for this order was received (idempotent) and return the item.

        First sight sets accepted_at (the message's enqueue time) and its hour bucket for the
        stuck-orders index; later sights only count the attempt. One write per receive, which
        also tells a duplicate or late message that the order is already done.
        """
        accepted_at = sent_at
        names = {
            "#last": LedgerNames.LAST_MESSAGE_AT,
            "#acc": LedgerNames.ACCEPTED_AT,
            "#hour": LedgerNames.ACCEPTED_HOUR,
            "#att": "attempts",
            "#exp": LedgerNames.TTL_ATTRIBUTE,
        }
        values: dict[str, Any] = {
            ":acc": {"N": number(accepted_at)},
            ":hour": {"S": hour_bucket(accepted_at)},
            ":one": {"N": "1"},
            ":exp": {"N": str(int(now + self._ttl_seconds))},
        }
        update = (
            "SET #acc = if_not_exists(#acc, :acc), #hour = if_not_exists(#hour, :hour), "
            "#exp = :exp, #last = :acc"
        )
        if storefront_ref:
            names["#ref"] = LedgerNames.STOREFRONT_REF
            values[":ref"] = {"S": storefront_ref}
            update += ", #ref = if_not_exists(#ref, :ref)"
        elif storefront_ref is not None:  # "" cannot be a key of the storefront_ref index
            names["#noref"] = LedgerNames.STOREFRONT_REF_EMPTY
            values[":true"] = {"BOOL": True}
            update += ", #noref = if_not_exists(#noref, :true)"
        response = self._db.update_item(
            TableName=self._table,
            Key=self._key(order_id),
            UpdateExpression=update + " ADD #att :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
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

    def claim(
        self,
        order_id: str,
        owner: str,
        now: float,
        lease_seconds: float,
        terminal_seen_at: float,
        total_price: float | None = None,
        charged: bool = False,
    ) -> Claim:
        """Take the delivery lease of an order the relay accepted (a message was received for
        it: `touch` wrote accepted_at); a claim never creates an item, so an id spelled another
        way than the message's is never delivered a second time under a second key.

        Also records when the order was first seen terminal and its price, and, when FoxReload
        charged it (`charged`), puts it in the spend index under the hour it was first seen
        terminal: spend is counted even if the webhook is later rejected."""
        until = now + lease_seconds
        names, values, sets = _terminal_sight(terminal_seen_at, total_price, charged)
        names.update(
            {
                "#owner": LedgerNames.LEASE_OWNER,
                "#until": LedgerNames.LEASE_UNTIL,
                "#outcome": LedgerNames.OUTCOME,
                "#acc": LedgerNames.ACCEPTED_AT,
            }
        )
        values.update(
            {
                ":owner": {"S": owner},
                ":until": {"N": number(until)},
                ":now": {"N": number(now)},
            }
        )
        update = "SET #owner = :owner, #until = :until, " + ", ".join(sets)
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._key(order_id),
                UpdateExpression=update,
                ConditionExpression=(
                    "attribute_exists(#acc) AND attribute_not_exists(#outcome) "
                    "AND (attribute_not_exists(#until) OR #until < :now)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
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

    def note_terminal(
        self,
        order_id: str,
        terminal_seen_at: float,
        total_price: float | None = None,
        charged: bool = False,
    ) -> float | None:
        """Record the first terminal sight (and price, and spend) without taking the lease:
        a delivery parked while the storefront is down still starts its delivery window and
        counts as spend. Returns the stored first sight; None if the order is not ours."""
        names, values, sets = _terminal_sight(terminal_seen_at, total_price, charged)
        names["#acc"] = LedgerNames.ACCEPTED_AT
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._key(order_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(#acc)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return _n(response.get("Attributes", {}), LedgerNames.TERMINAL_SEEN_AT)

    def mark_terminal(
        self,
        order_id: str,
        owner: str,
        event: str,
        now: float,
        total_price: float | None,
        cancel_reason: str | None,
        last_status: str,
        attempts: Sequence[Attempt] | None = None,
    ) -> bool:
        """Record the outcome once the storefront accepted the webhook.

        Conditional on still owning the lease, or on no outcome being recorded yet: the webhook
        was accepted, so the order is delivered even if our lease lapsed meanwhile. False means
        another worker recorded it first (it is done either way). `attempts`: the attempt log to
        store with it (the claim's log plus this attempt).
        """
        names = {
            "#outcome": LedgerNames.OUTCOME,
            "#event": LedgerNames.OUTCOME_EVENT,
            "#at": LedgerNames.OUTCOME_AT,
            "#owner": LedgerNames.LEASE_OWNER,
            "#until": LedgerNames.LEASE_UNTIL,
            "#last": LedgerNames.LAST_STATUS,
        }
        values: dict[str, Any] = {
            ":outcome": {"S": outcome_for_event(event)},
            ":event": {"S": event},
            ":at": {"N": number(now)},
            ":owner": {"S": owner},
            ":last": {"S": last_status},
        }
        sets = ["#outcome = :outcome", "#event = :event", "#at = :at", "#last = :last"]
        if total_price is not None:
            names["#price"] = LedgerNames.TOTAL_PRICE
            values[":price"] = {"N": number(total_price)}
            sets.append("#price = :price")
        if cancel_reason is not None:
            names["#reason"] = LedgerNames.CANCEL_REASON
            values[":reason"] = {"S": cancel_reason}
            sets.append("#reason = :reason")
        if attempts is not None:
            sets += _log_actions(attempts, names, values)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(order_id),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE #owner, #until",
                ConditionExpression="#owner = :owner OR attribute_not_exists(#outcome)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, order_id: str, owner: str, attempts: Sequence[Attempt] | None = None) -> None:
        """Give the lease back after a webhook that did not go through, so a retry need not wait;
        with `attempts`, store that attempt log in the same write."""
        names = {"#owner": LedgerNames.LEASE_OWNER, "#until": LedgerNames.LEASE_UNTIL}
        values: dict[str, Any] = {":owner": {"S": owner}}
        update = "REMOVE #owner, #until"
        if attempts is not None:
            update = "SET " + ", ".join(_log_actions(attempts, names, values)) + " " + update
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(order_id),
                UpdateExpression=update,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def record_rejection(self, order_id: str, now: float, last_status: str) -> None:
        """The storefront refused the webhook for good; `last_status` is the FoxReload status
        it was about, so another worker dead-lettering this order can say it too."""
        self._db.update_item(
            TableName=self._table,
            Key=self._key(order_id),
            UpdateExpression="SET #at = :at, #last = :last",
            ExpressionAttributeNames={
                "#at": LedgerNames.WEBHOOK_REJECTED_AT,
                "#last": LedgerNames.LAST_STATUS,
            },
            ExpressionAttributeValues={":at": {"N": number(now)}, ":last": {"S": last_status}},
        )

    def record_dead_letter(
        self, order_id: str, reason: str, last_status: str | None, now: float
    ) -> None:
        names = {"#at": LedgerNames.DEAD_LETTERED_AT, "#why": LedgerNames.DEAD_LETTER_REASON}
        values: dict[str, Any] = {":at": {"N": number(now)}, ":why": {"S": reason}}
        update = "SET #at = :at, #why = :why"
        if last_status:
            names["#last"] = LedgerNames.LAST_STATUS
            values[":last"] = {"S": last_status}
            update += ", #last = :last"
        self._db.update_item(
            TableName=self._table,
            Key=self._key(order_id),
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def record_attempts(
        self, order_id: str, attempts: Sequence[Attempt], after: int | None
    ) -> bool:
        """Store the attempt log of an attempt made without the lease (an operator's
        redelivery), conditional on the log still ending at attempt number `after` (None: no
        attempt yet): False means another attempt was logged meanwhile (read again, retry)."""
        names = {"#acc": LedgerNames.ACCEPTED_AT}
        values: dict[str, Any] = {}
        sets = _log_actions(attempts, names, values)
        if after is None:
            condition = "attribute_exists(#acc) AND attribute_not_exists(#lastn)"
        else:
            condition = "attribute_exists(#acc) AND #lastn = :after"
            values[":after"] = {"N": str(after)}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(order_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
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


def _terminal_sight(
    terminal_seen_at: float, total_price: float | None, charged: bool
) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """The first terminal sight, its price and its spend-index hour as update actions."""
    seen = number(terminal_seen_at)  # the hour must be that of the stored (rounded) time
    names = {"#seen": LedgerNames.TERMINAL_SEEN_AT}
    values: dict[str, Any] = {":seen": {"N": seen}}
    sets = ["#seen = if_not_exists(#seen, :seen)"]
    if total_price is not None:
        names["#price"] = LedgerNames.TOTAL_PRICE
        values[":price"] = {"N": number(total_price)}
        sets.append("#price = :price")
    if charged:
        names["#charged"] = LedgerNames.CHARGED_HOUR
        values[":charged"] = {"S": hour_bucket(float(seen))}
        sets.append("#charged = if_not_exists(#charged, :charged)")
    return names, values, sets


def _log_actions(
    attempts: Sequence[Attempt], names: dict[str, str], values: dict[str, Any]
) -> list[str]:
    """SET actions writing the whole attempt log and the number of its newest entry."""
    names["#log"] = LedgerNames.ATTEMPT_LOG
    names["#lastn"] = LedgerNames.LAST_ATTEMPT
    values[":log"] = {"L": [_attempt_item(a) for a in attempts]}
    values[":lastn"] = {"N": str(max((a.number for a in attempts), default=0))}
    return ["#log = :log", "#lastn = :lastn"]


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
