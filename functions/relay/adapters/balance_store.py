"""Operator balance records, kept durably in the ledger table under '#'-prefixed keys.

Layout (no valid order id starts with '#', and none of these items has `accepted_hour`, so they
never show up in the acceptance index or collide with an order):

- `#balance#<recorded_at ms, 15 digits>#<record id>`: one item per record, written once and never
  changed or expired: the full history.
- `#balance`: the current basis (the fold of every record so far, see domain.balance), the most
  recent records for `balance show`, and a version number.

`record` writes both in one transaction, conditional on the basis item's version being the one
it read: two operators recording at the same moment both land (one retries), and the basis is
never computed from a stale read. The balance monitor reads one item with a consistent read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from relay.adapters.ledger import all_items
from relay.domain.balance import BalanceRecord, Basis, RecordKind, apply
from relay.names import Ledger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RECENT_RECORDS: Final = 20
_RECORD_PREFIX: Final = Ledger.BALANCE_KEY + "#"
_ATTEMPTS: Final = 5


class ConcurrentRecordError(RuntimeError):
    """Another record kept winning the race for the basis item; nothing was written."""


@dataclass(frozen=True)
class BalanceState:
    basis: Basis | None
    recent: tuple[BalanceRecord, ...]  # oldest first
    version: int


class BalanceStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12],
    ) -> None:
        self._db = client
        self._table = table_name
        self._clock = clock
        self._new_id = new_id

    def state(self) -> BalanceState:
        item = self._db.get_item(
            TableName=self._table, Key=_key(Ledger.BALANCE_KEY), ConsistentRead=True
        ).get("Item")
        if item is None:
            return BalanceState(basis=None, recent=(), version=0)
        return _state(item)

    def basis(self) -> Basis | None:
        return self.state().basis

    def record(
        self, kind: RecordKind, amount: Decimal, note: str | None = None
    ) -> tuple[BalanceRecord, Basis]:
        """Store one record (timestamped now) and fold it into the basis, atomically."""
        record = BalanceRecord(
            kind=kind,
            amount=amount,
            recorded_at=round(self._clock(), 3),
            note=note or None,
            record_id=self._new_id(),
        )
        for _ in range(_ATTEMPTS):
            current = self.state()
            basis = apply(current.basis, record)
            recent = (*current.recent, record)[-RECENT_RECORDS:]
            try:
                self._write(record, basis, recent, current.version)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                continue  # the basis item changed under us (or the record id collided): re-read
            return record, basis
        raise ConcurrentRecordError("could not record the balance: too many concurrent writers")

    def history(self) -> list[BalanceRecord]:
        """Every record ever stored, oldest first. A Scan: for the operator CLI, not the monitor."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(#pk, :prefix)",
            "ExpressionAttributeNames": {"#pk": Ledger.PARTITION_KEY},
            "ExpressionAttributeValues": {":prefix": {"S": _RECORD_PREFIX}},
        }
        records = [_record(item) for item in all_items(self._db.scan, request)]
        return sorted(records, key=lambda r: (r.recorded_at, r.record_id))

    def _write(
        self,
        record: BalanceRecord,
        basis: Basis,
        recent: tuple[BalanceRecord, ...],
        version: int,
    ) -> None:
        record_item = {**_key(record_key(record)), **_record_attrs(record)}
        state_item: dict[str, Any] = {
            **_key(Ledger.BALANCE_KEY),
            "basis_amount": {"N": format(basis.amount, "f")},
            "basis_since": {"N": _num(basis.since)},
            "basis_anchored": {"BOOL": basis.anchored},
            "recent": {"L": [{"M": _record_attrs(r)} for r in recent]},
            "version": {"N": str(version + 1)},
            "updated_at": {"N": _num(record.recorded_at)},
        }
        if version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(#pk)"}
            condition["ExpressionAttributeNames"] = {"#pk": Ledger.PARTITION_KEY}
        else:
            condition = {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        state_put: dict[str, Any] = {"TableName": self._table, "Item": state_item, **condition}
        record_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": record_item,
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": Ledger.PARTITION_KEY},
        }
        transact: list[Any] = [{"Put": record_put}, {"Put": state_put}]
        self._db.transact_write_items(TransactItems=transact)


def record_key(record: BalanceRecord) -> str:
    millis = round(record.recorded_at * 1000)
    return f"{_RECORD_PREFIX}{millis:015d}#{record.record_id}"


def _key(partition: str) -> dict[str, Any]:
    return {Ledger.PARTITION_KEY: {"S": partition}}


def _record_attrs(record: BalanceRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "kind": {"S": record.kind.value},
        "amount": {"N": format(record.amount, "f")},
        "recorded_at": {"N": _num(record.recorded_at)},
        "record_id": {"S": record.record_id},
    }
    if record.note:
        attrs["note"] = {"S": record.note}
    return attrs


def _record(attrs: dict[str, Any]) -> BalanceRecord:
    note = attrs.get("note")
    return BalanceRecord(
        kind=RecordKind(attrs["kind"]["S"]),
        amount=Decimal(attrs["amount"]["N"]),
        recorded_at=float(attrs["recorded_at"]["N"]),
        note=None if note is None else str(note["S"]),
        record_id=str(attrs["record_id"]["S"]),
    )


def _state(item: dict[str, Any]) -> BalanceState:
    basis = Basis(
        amount=Decimal(item["basis_amount"]["N"]),
        since=float(item["basis_since"]["N"]),
        anchored=bool(item["basis_anchored"]["BOOL"]),
    )
    recent = tuple(_record(entry["M"]) for entry in item.get("recent", {}).get("L", []))
    return BalanceState(basis=basis, recent=recent, version=int(item["version"]["N"]))


def _num(value: float) -> str:
    return f"{value:.3f}"
