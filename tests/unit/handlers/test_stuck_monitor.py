"""The stuck-order monitor handler over a moto ledger: what it reads, what it emits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from relay.adapters.ledger import ClaimRequest, LedgerTable, OutcomeRequest, TerminalSight
from relay.adapters.ledger_queries import LedgerQueries
from relay.domain.events import Event
from relay.domain.hours import hour_buckets
from relay.handlers import stuck_monitor
from relay.names import METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME, Ledger, Metric
from tests.unit.handlers.monitor_world import TABLE, FakeContext, aws, emf_metrics, put_order


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LEDGER_TABLE", TABLE)
    monkeypatch.setenv("STUCK_WINDOW_SECONDS", "600")
    monkeypatch.setattr(stuck_monitor, "_runtime", None)
    with aws() as client:
        yield client


def run(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    capsys.readouterr()
    result = stuck_monitor.handler({"source": "aws.events"}, FakeContext())
    return result, emf_metrics(capsys.readouterr().out)


def test_emits_ratio_in_percent_with_counts(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    put_order(ddb, "on-time", now - 900, outcome="delivered", outcome_at=now - 850)
    put_order(ddb, "late", now - 900, outcome="delivered", outcome_at=now - 200)  # 700 s
    put_order(ddb, "dead", now - 800, dead_lettered_at=now - 700)
    put_order(ddb, "failed-in-time", now - 700, outcome="failed", outcome_at=now - 690)
    put_order(ddb, "too-young", now - 300)  # not judged yet
    put_order(ddb, "too-old", now - 1300)  # judged a while ago

    result, metrics = run(capsys)

    assert (result["orders"], result["stuck"]) == (4, 2)
    assert metrics[Metric.STUCK_ORDER_RATIO].value == pytest.approx(50.0)
    assert metrics[Metric.STUCK_ORDER_RATIO].unit == "Percent"
    assert metrics[Metric.STUCK_ORDERS].value == 2
    assert metrics[Metric.ORDERS_IN_STUCK_WINDOW].value == 4
    for name in (Metric.STUCK_ORDER_RATIO, Metric.STUCK_ORDERS, Metric.ORDERS_IN_STUCK_WINDOW):
        assert metrics[name].namespace == METRICS_NAMESPACE
        assert metrics[name].dimensions == {SERVICE_DIMENSION: SERVICE_NAME}


def test_empty_ledger_emits_zero(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, metrics = run(capsys)
    assert metrics[Metric.STUCK_ORDER_RATIO].value == 0
    assert metrics[Metric.ORDERS_IN_STUCK_WINDOW].value == 0


def test_logs_stuck_order_ids_above_threshold(ddb: Any, caplog: pytest.LogCaptureFixture) -> None:
    now = time.time()
    put_order(ddb, "stuck-order-1", now - 700)
    stuck_monitor.handler({}, FakeContext())
    [record] = [r for r in caplog.records if r.getMessage() == "stuck orders above threshold"]
    assert record.stuck_order_ids == ["stuck-order-1"]  # type: ignore[attr-defined]


def test_redelivered_and_redriven_messages_count_the_order_once(
    ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The poller's own ledger writer: every receive of a message calls touch(); only the first
    # sets accepted_at. Three receives (a duplicate send, a batch redelivered after a timeout,
    # a console redrive with a fresh SentTimestamp) leave one item accepted at the first time.
    ledger = LedgerTable(ddb, TABLE)
    now = time.time()
    first = now - 700
    for sent, seen in ((first, first + 1), (first + 2, first + 3), (first, first + 40)):
        ledger.touch("order-a", sent_at=sent, storefront_ref="sf-1", now=seen)
    ledger.touch("order-a", sent_at=now - 30, storefront_ref=None, now=now - 29)  # redrive
    ledger.touch("order-b", sent_at=now - 650, storefront_ref=None, now=now - 649)
    claim = ledger.claim(
        ClaimRequest(
            order_id="order-b",
            owner="w1",
            now=now - 640,
            lease_seconds=45,
            sight=TerminalSight(seen_at=now - 640),
        )
    )
    assert claim.status.value == "claimed"
    ledger.mark_terminal(
        OutcomeRequest(
            order_id="order-b",
            owner="w1",
            event=Event.DELIVERED,
            now=now - 639,
            total_price=5.0,
            cancel_reason=None,
            last_status="completed",
        )
    )

    result, metrics = run(capsys)

    assert (result["orders"], result["stuck"]) == (2, 1)
    assert metrics[Metric.STUCK_ORDER_RATIO].value == pytest.approx(50.0)


def test_queries_span_hour_buckets_and_skip_operator_items(ddb: Any) -> None:
    hour = 1_760_000_400.0 - 1_760_000_400.0 % 3600  # an exact UTC hour
    put_order(ddb, "before", hour - 1)
    put_order(ddb, "at", hour)
    put_order(ddb, "after", hour + 1)
    put_order(ddb, "outside", hour - 2000)
    ddb.put_item(
        TableName=TABLE,
        Item={Ledger.PARTITION_KEY: {"S": "#balance"}, "basis_amount": {"N": "1"}},
    )
    found = LedgerQueries(ddb, TABLE).accepted_between(hour - 600, hour + 600)
    assert [o.order_id for o in found] == ["before", "at", "after"]
    # start exclusive, end inclusive
    assert [o.order_id for o in LedgerQueries(ddb, TABLE).accepted_between(hour, hour + 1)] == [
        "after"
    ]


def test_hour_buckets() -> None:
    hour = 1_760_000_400.0 - 1_760_000_400.0 % 3600
    assert len(hour_buckets(hour - 1, hour)) == 2
    assert len(hour_buckets(hour, hour + 3599)) == 1
    assert len(hour_buckets(hour - 86_400, hour)) == 25
    assert hour_buckets(hour, hour - 1) == []
