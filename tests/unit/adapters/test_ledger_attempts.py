"""LedgerTable: the attempt log's storage, the storefront_ref index, an empty storefront_ref."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from relay.adapters.ledger import (
    ClaimRequest,
    ClaimStatus,
    LedgerTable,
    OutcomeRequest,
    ReleaseRequest,
    TerminalSight,
)
from relay.domain.attempt_log import MAX_ATTEMPTS_KEPT, Actor, Attempt, appended, new_attempt
from relay.domain.events import Event
from relay.names import Ledger
from tests.unit.service.relay_world import create_ledger_table

NOW = 1_700_000_000.0


@pytest.fixture
def ledger() -> Iterator[LedgerTable]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        create_ledger_table(ddb, "ledger")
        yield LedgerTable(ddb, "ledger")


def _next(log: tuple[Attempt, ...], actor: str, status: int | None) -> tuple[Attempt, ...]:
    entry = new_attempt(
        log, at=NOW + len(log), actor=actor, status_code=status, failure=None, latency_seconds=0.2
    )
    return appended(log, entry)


def test_claim_returns_the_log_that_release_and_mark_terminal_store(ledger) -> None:
    ledger.touch("o-1", sent_at=NOW - 10, storefront_ref="ref-1", now=NOW)
    log: tuple[Attempt, ...] = ()
    for i in range(MAX_ATTEMPTS_KEPT + 3):
        claim = ledger.claim(
            ClaimRequest(
                order_id="o-1",
                owner=f"w-{i}",
                now=NOW + i * 100,
                lease_seconds=45.0,
                sight=TerminalSight(seen_at=NOW),
            )
        )
        assert claim.status is ClaimStatus.CLAIMED
        assert claim.attempt_log == log  # exactly what the last write stored
        log = _next(claim.attempt_log, Actor.POLLER, 503)
        ledger.release(ReleaseRequest(order_id="o-1", owner=f"w-{i}", attempts=log))
    claim = ledger.claim(
        ClaimRequest(
            order_id="o-1",
            owner="w-last",
            now=NOW + 9999,
            lease_seconds=45.0,
            sight=TerminalSight(seen_at=NOW),
        )
    )
    log = _next(claim.attempt_log, Actor.SWEEPER, 200)
    assert ledger.mark_terminal(
        OutcomeRequest(
            order_id="o-1",
            owner="w-last",
            event=Event.DELIVERED,
            now=NOW,
            total_price=10.0,
            cancel_reason=None,
            last_status="completed",
            attempts=log,
        )
    )
    record = ledger.get("o-1")
    assert record is not None and record.attempt_log == log
    assert len(log) == MAX_ATTEMPTS_KEPT and log[-1].number == MAX_ATTEMPTS_KEPT + 4
    assert record.outcome_event == "order.delivered"


def test_an_operator_append_is_conditional_on_the_log_it_read(ledger) -> None:
    ledger.touch("o-2", sent_at=NOW - 10, storefront_ref=None, now=NOW)
    first = _next((), Actor.OPERATOR, 200)
    assert ledger.record_attempts("o-2", first, None)
    assert not ledger.record_attempts("o-2", first, None)  # someone logged meanwhile
    second = _next(first, Actor.OPERATOR, 200)
    assert not ledger.record_attempts("o-2", second, 7)
    assert ledger.record_attempts("o-2", second, 1)
    assert not ledger.record_attempts("never-accepted", first, None)


def test_orders_are_found_by_storefront_ref(ledger) -> None:
    ledger.touch("o-3", sent_at=NOW - 30, storefront_ref="cart-1", now=NOW)
    ledger.touch("o-4", sent_at=NOW - 20, storefront_ref="cart-1", now=NOW)
    ledger.touch("o-5", sent_at=NOW - 10, storefront_ref="cart-2", now=NOW)
    ledger.touch("o-6", sent_at=NOW - 10, storefront_ref=None, now=NOW)
    assert ledger.order_ids_for_ref("cart-1") == ["o-3", "o-4"]  # oldest first
    assert ledger.order_ids_for_ref("nope") == []


def test_an_empty_storefront_ref_is_kept_without_breaking_the_index(ledger) -> None:
    # "" is a valid reference in the message but can never be an index key
    record = ledger.touch("o-7", sent_at=NOW - 10, storefront_ref="", now=NOW)
    assert record.storefront_ref == ""
    stored = ledger.get("o-7")
    assert stored is not None and stored.storefront_ref == ""
    assert ledger.touch("o-7", sent_at=NOW, storefront_ref="", now=NOW).attempts == 2
    item = boto3.client("dynamodb", region_name="eu-west-1").get_item(
        TableName="ledger", Key={"order_id": {"S": "o-7"}}
    )["Item"]
    assert Ledger.STOREFRONT_REF not in item
