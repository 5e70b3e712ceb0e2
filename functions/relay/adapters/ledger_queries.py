"""Read-only queries over the ledger's acceptance-time index, for the stuck-order monitor and
the sweeper (which sleeps while nothing it could find is in flight).

The index `by-accepted-hour` (names.Ledger) is partitioned by the UTC hour of acceptance
("YYYYMMDDHH") and sorted by `accepted_at`, so "orders accepted in (start, end]" is one Query per
hour bucket the range touches. Buckets are queried concurrently (boto3 clients are thread-safe).
Only order items carry `accepted_hour`: the '#'-keyed operator items never appear in the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from relay.adapters.ledger import all_items
from relay.domain.hours import hour_buckets
from relay.domain.stuck_orders import LedgerOrder
from relay.names import Ledger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_MAX_WORKERS: Final = 8
_PROJECTED: Final = (Ledger.PARTITION_KEY, Ledger.ACCEPTED_AT, *Ledger.ACCEPTED_INDEX_ATTRIBUTES)


class LedgerQueries:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def accepted_between(self, start: float, end: float) -> list[LedgerOrder]:
        """Orders with `start < accepted_at <= end`, one entry per order, oldest first."""
        buckets = hour_buckets(start, end)
        if len(buckets) == 1:
            found = list(self._query_bucket(buckets[0], start, end))
        else:
            with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(buckets))) as pool:
                parts = pool.map(lambda b: list(self._query_bucket(b, start, end)), buckets)
                found = [order for part in parts for order in part]
        unique = {order.order_id: order for order in found if start < order.accepted_at <= end}
        return sorted(unique.values(), key=lambda o: (o.accepted_at, o.order_id))

    def unfinished_between(self, start: float, end: float) -> int:
        """How many orders accepted in (start, end] have no outcome yet (the sweeper's work)."""
        return sum(1 for order in self.accepted_between(start, end) if order.outcome is None)

    def _query_bucket(self, bucket: str, start: float, end: float) -> Iterator[LedgerOrder]:
        names = {f"#p{i}": name for i, name in enumerate(_PROJECTED)}
        names |= {"#hour": Ledger.ACCEPTED_INDEX_PARTITION, "#acc": Ledger.ACCEPTED_INDEX_SORT}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": Ledger.ACCEPTED_INDEX,
            "KeyConditionExpression": "#hour = :hour AND #acc BETWEEN :lo AND :hi",
            "ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(_PROJECTED))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":hour": {"S": bucket},
                ":lo": {"N": _num(start)},
                ":hi": {"N": _num(end)},
            },
        }
        for item in all_items(self._db.query, request):
            order = to_ledger_order(item)
            if order is not None:
                yield order


def to_ledger_order(item: dict[str, Any]) -> LedgerOrder | None:
    """A low-level DynamoDB item as a LedgerOrder; None for anything that is not an order."""
    order_id = _s(item, Ledger.PARTITION_KEY)
    accepted_at = _f(item, Ledger.ACCEPTED_AT)
    if order_id is None or order_id.startswith("#") or accepted_at is None:
        return None
    price = item.get(Ledger.TOTAL_PRICE)
    return LedgerOrder(
        order_id=order_id,
        accepted_at=accepted_at,
        outcome=_s(item, Ledger.OUTCOME),
        outcome_at=_f(item, Ledger.OUTCOME_AT),
        terminal_seen_at=_f(item, Ledger.TERMINAL_SEEN_AT),
        total_price=None if price is None or "N" not in price else Decimal(price["N"]),
        cancel_reason=_s(item, Ledger.CANCEL_REASON),
        dead_lettered_at=_f(item, Ledger.DEAD_LETTERED_AT),
    )


def _num(value: float) -> str:
    # The bounds are compared as numbers: any exact decimal rendering of the float will do.
    return format(Decimal(repr(float(value))), "f")


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "S" not in value else str(value["S"])


def _f(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name)
    return None if value is None or "N" not in value else float(value["N"])
