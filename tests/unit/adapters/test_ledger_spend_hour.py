"""The claim puts charged orders in the spend index under the hour of their stored time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from relay.adapters.ledger import ClaimRequest, ClaimStatus, LedgerTable, TerminalSight
from relay.domain.hours import bucket_start, hour_bucket
from relay.names import Ledger
from tests.unit.handlers.monitor_world import TABLE, aws

H = bucket_start("2025100905")
ORDER = "7d1c2f0a-3b4e-4f5a-9b6c-1d2e3f4a5b6c"


@pytest.fixture
def ddb() -> Iterator[Any]:
    with aws() as client:
        yield client


def item(ddb: Any) -> dict[str, Any]:
    return dict(ddb.get_item(TableName=TABLE, Key={Ledger.PARTITION_KEY: {"S": ORDER}})["Item"])


def claim(ddb: Any, seen: float, *, charged: bool = True) -> ClaimStatus:
    ledger = LedgerTable(ddb, TABLE)
    # a message for it was received
    ledger.touch(ORDER, sent_at=seen - 30, storefront_ref=None, now=seen - 30)
    return ledger.claim(
        ClaimRequest(
            order_id=ORDER,
            owner="w-1",
            now=seen + 1,
            lease_seconds=45.0,
            sight=TerminalSight(seen_at=seen, total_price=10.0, charged=charged),
        )
    ).status


def test_the_hour_is_that_of_the_stored_rounded_time(ddb: Any) -> None:
    assert claim(ddb, H - 0.0004) is ClaimStatus.CLAIMED  # stored as H.000: the next hour
    stored = item(ddb)
    assert stored[Ledger.TERMINAL_SEEN_AT]["N"] == f"{H:.3f}"
    assert stored[Ledger.CHARGED_HOUR]["S"] == hour_bucket(H) == "2025100905"


def test_an_uncharged_order_stays_out_of_the_spend_index(ddb: Any) -> None:
    claim(ddb, H + 10, charged=False)
    assert Ledger.CHARGED_HOUR not in item(ddb)


def test_a_claim_never_creates_an_order_the_relay_did_not_accept(ddb: Any) -> None:
    ledger = LedgerTable(ddb, TABLE)
    assert (
        ledger.claim(
            ClaimRequest(
                order_id=ORDER,
                owner="w-1",
                now=H + 1,
                lease_seconds=45.0,
                sight=TerminalSight(seen_at=H, total_price=10.0, charged=True),
            )
        ).status
        is ClaimStatus.NOT_OURS
    )
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={Ledger.PARTITION_KEY: {"S": ORDER}})
