"""What FoxReload charged in a time window, read from the ledger's sparse spend index.

Each order the relay saw completed or failed carries `charged_hour` (the UTC hour of
`terminal_seen_at`) and its `total_price`, written with its first delivery claim, so the index
`by-charged-hour` (names.Ledger.SPEND_INDEX) lists the charges of each hour. A window is summed
hour by hour (relay.domain.hours.slices):

- a settled whole hour is read once, summed, and its sum kept at "#spend-hour#YYYYMMDDHH" (it can
  no longer change); later reads are one BatchGetItem for up to 100 hours;
- the other hours (the window's partial edges and the hours still filling) are summed from the
  index every time: at most three hours of entries, whatever the load or the window's length.

So the balance monitor's cost per run does not grow with the order rate times the window, as a
scan of 24 h or more of orders every five minutes would.

Why kept sums and not something simpler. The low-balance alarm (estimated balance under twice
the last 24 h of spend) needs two sums each run: the last 24 h, and everything since the last
balance record, which may be as old as the ledger's TTL. Per run, kept sums cost one
BatchGetItem per 100 settled hours plus a query of at most three hours of index entries, the
same at 1k or 20k orders an hour. The simpler options are either dearer or less exact:
querying the whole window each run reads every charge in it (a day at 20k orders an hour is
about half a million index entries, every five minutes, and the since-record window can be
ninety times that); a running total added to at claim time would count an order twice when a
lease is taken over unless each claim became a transaction (twice the write cost on the
delivery path, and one hot item); a CloudWatch sum of a spend metric cannot reach back to an
arbitrary record time and loses what an invocation that crashes before flushing had counted.
The index, by contrast, is exact: each charged order is in it once, under a key the claim sets
with if_not_exists.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from relay.adapters.ledger import all_items, number
from relay.domain.hours import HOUR_SECONDS, HourSlice, bucket_start, slices
from relay.names import Ledger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_MAX_WORKERS: Final = 8
_BATCH: Final = 100  # BatchGetItem's limit
_BATCH_ATTEMPTS: Final = 4
_BACKOFF_SECONDS: Final = 0.05
_SUM: Final = "spend"
_COUNT: Final = "charges"
# A kept hour lives as long as the orders it sums (the ledger's default TTL) and a day more.
_KEPT_DAYS: Final = 91


class SpendIndex:
    """`keep_sums=False` reads kept sums but never writes one: for readers whose clock is not
    trusted to say an hour has settled (the operator CLI on a laptop)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        settle_seconds: float = 900.0,
        *,
        keep_sums: bool = True,
    ) -> None:
        self._db = client
        self._table = table_name
        self._settle = settle_seconds
        self._keep_sums = keep_sums

    def spend_between(self, start: float, end: float, now: float) -> Decimal:
        """Total charged with `start < terminal_seen_at <= end`, as of `now`."""
        parts = slices(start, end, now, self._settle)
        kept = self._kept([p.bucket for p in parts if p.settled])
        todo = [p for p in parts if p.bucket not in kept]
        if len(todo) <= 1:
            sums = [self._sum_and_keep(p) for p in todo]
        else:
            with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(todo))) as pool:
                sums = list(pool.map(self._sum_and_keep, todo))
        total = sum((kept[p.bucket] for p in parts if p.bucket in kept), Decimal(0))
        return total + sum(sums, Decimal(0))

    def _sum_and_keep(self, part: HourSlice) -> Decimal:
        amount, count = self._sum(part)
        if part.settled and self._keep_sums:
            self._keep(part.bucket, amount, count)
        return amount

    # -- reading the index -----------------------------------------------------------------------
    def _sum(self, part: HourSlice) -> tuple[Decimal, int]:
        names = {
            "#hour": Ledger.SPEND_INDEX_PARTITION,
            "#at": Ledger.SPEND_INDEX_SORT,
            "#price": Ledger.TOTAL_PRICE,
        }
        values: dict[str, Any] = {":hour": {"S": part.bucket}}
        condition = "#hour = :hour"
        if not part.whole:
            condition += " AND #at BETWEEN :lo AND :hi"
            values[":lo"] = {"N": number(part.start)}
            values[":hi"] = {"N": number(part.end)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": Ledger.SPEND_INDEX,
            "KeyConditionExpression": condition,
            "ProjectionExpression": "#at, #price",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        total, count = Decimal(0), 0
        for item in all_items(self._db.query, request):
            at = item.get(Ledger.SPEND_INDEX_SORT, {}).get("N")
            # the partition is the hour; the window's bounds decide the edges
            if at is None or not part.start < float(at) <= part.end:
                continue
            price = item.get(Ledger.TOTAL_PRICE, {}).get("N")
            total += Decimal(price) if price is not None else Decimal(0)
            count += 1
        return total, count

    # -- kept sums of settled hours -------------------------------------------------------------
    def _kept(self, buckets: list[str]) -> dict[str, Decimal]:
        found: dict[str, Decimal] = {}
        for i in range(0, len(buckets), _BATCH):
            keys = [{Ledger.PARTITION_KEY: {"S": _key(b)}} for b in buckets[i : i + _BATCH]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            # Keys DynamoDB leaves unprocessed are retried a few times with backoff; any still
            # left are treated as not kept, so their hours are summed from the index instead.
            for attempt in range(_BATCH_ATTEMPTS):
                if attempt:
                    time.sleep(_BACKOFF_SECONDS * 2 ** (attempt - 1))
                response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    key = str(item[Ledger.PARTITION_KEY]["S"])
                    found[key.removeprefix(Ledger.SPEND_HOUR_PREFIX)] = Decimal(item[_SUM]["N"])
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
        return found

    def _keep(self, bucket: str, amount: Decimal, count: int) -> None:
        """Idempotent: a settled hour's sum is the same whoever computes it."""
        expires = bucket_start(bucket) + HOUR_SECONDS + _KEPT_DAYS * 86_400
        self._db.put_item(
            TableName=self._table,
            Item={
                Ledger.PARTITION_KEY: {"S": _key(bucket)},
                _SUM: {"N": str(amount)},
                _COUNT: {"N": str(count)},
                Ledger.TTL_ATTRIBUTE: {"N": str(int(expires))},
            },
        )


def _key(bucket: str) -> str:
    return Ledger.SPEND_HOUR_PREFIX + bucket
