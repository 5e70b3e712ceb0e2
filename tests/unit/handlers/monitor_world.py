"""In-process AWS (moto) for the monitor handler tests: the ledger table and EMF capture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from local_stack.moto_atomic import atomic_moto_requests
from local_stack.provision import ledger_table_definition
from relay.domain.events import TERMINALS
from relay.domain.hours import hour_bucket
from relay.names import Ledger

TABLE = "ledger"
CHARGED_OUTCOMES = frozenset(row.outcome.value for row in TERMINALS if row.charged)
REGION = "eu-west-1"


def create_ledger_table(ddb: Any, name: str = TABLE) -> None:
    """The ledger as the stack and the local stack define it, except that the acceptance index
    projects only the attributes the monitors say they read (AWS: ALL), so a query that needs
    anything more fails here."""
    definition = ledger_table_definition(name)
    for index in definition["GlobalSecondaryIndexes"]:
        if index["IndexName"] == Ledger.ACCEPTED_INDEX:
            index["Projection"] = {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": list(Ledger.ACCEPTED_INDEX_ATTRIBUTES),
            }
    ddb.create_table(**definition)


@contextmanager
def aws() -> Iterator[Any]:
    # the monitors query hour partitions from a thread pool
    with atomic_moto_requests(), mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_ledger_table(ddb)
        yield ddb


def put_order(
    ddb: Any,
    order_id: str,
    accepted_at: float,
    *,
    outcome: str | None = None,
    outcome_at: float | None = None,
    terminal_seen_at: float | None = None,
    total_price: Decimal | str | None = None,
    dead_lettered_at: float | None = None,
    cancel_reason: str | None = None,
) -> None:
    """A ledger item in the poller's format (numbers as 3-decimal strings, hour bucket in UTC)."""
    item: dict[str, Any] = {
        Ledger.PARTITION_KEY: {"S": order_id},
        Ledger.ACCEPTED_AT: {"N": f"{accepted_at:.3f}"},
        Ledger.ACCEPTED_HOUR: {"S": hour_bucket(accepted_at)},
        "attempts": {"N": "1"},
    }
    for name, value in (
        (Ledger.OUTCOME_AT, outcome_at),
        (Ledger.TERMINAL_SEEN_AT, terminal_seen_at),
        (Ledger.DEAD_LETTERED_AT, dead_lettered_at),
    ):
        if value is not None:
            item[name] = {"N": f"{value:.3f}"}
    if outcome is not None:
        item[Ledger.OUTCOME] = {"S": outcome}
    if outcome in CHARGED_OUTCOMES:
        # As the poller's claim writes it: charged at the first sight of the terminal status.
        seen = terminal_seen_at if terminal_seen_at is not None else outcome_at
        assert seen is not None, "a charged order needs terminal_seen_at or outcome_at"
        item[Ledger.TERMINAL_SEEN_AT] = {"N": f"{seen:.3f}"}
        item[Ledger.CHARGED_HOUR] = {"S": hour_bucket(float(f"{seen:.3f}"))}
    if total_price is not None:
        item[Ledger.TOTAL_PRICE] = {"N": str(total_price)}
    if cancel_reason is not None:
        item[Ledger.CANCEL_REASON] = {"S": cancel_reason}
    ddb.put_item(TableName=TABLE, Item=item)


@dataclass
class FakeContext:
    function_name: str = "monitor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:monitor"
    aws_request_id: str = "req-1"


@dataclass(frozen=True)
class EmfMetric:
    value: float
    unit: str
    namespace: str
    dimensions: dict[str, str]


def emf_metrics(stdout: str) -> dict[str, EmfMetric]:
    """Every metric in the EMF lines of `stdout` (the last value wins)."""
    found: dict[str, EmfMetric] = {}
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = {name: str(blob[name]) for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                value = value[-1] if isinstance(value, list) else value
                found[metric["Name"]] = EmfMetric(
                    float(value), metric.get("Unit", ""), directive["Namespace"], dims
                )
    return found
