"""The claim puts charged orders in the spend index under the hour of their stored time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from relay.adapters.ledger import ClaimStatus, LedgerTable
from relay.domain.hours import HOUR_SECONDS, bucket_start, hour_bucket
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
    return ledger.claim(ORDER, "w-1", seen + 1, 45.0, seen, 10.0, charged).status


def test_the_hour_is_that_of_the_stored_rounded_time(ddb: Any) -> None:
    assert claim(ddb, H - 0.0004) is ClaimStatus.CLAIMED  # stored as H.000: the next hour
    stored = item(ddb)
    assert stored[Ledger.TERMINAL_SEEN_AT]["N"] == f"{H:.3f}"
    assert stored[Ledger.CHARGED_HOUR]["S"] == hour_bucket(H) == "2025100905"


def test_an_uncharged_order_stays_out_of_the_spend_index(ddb: Any) -> None:
    claim(ddb, H + 10, charged=False)
    assert Ledger.CHARGED_HOUR not in item(ddb)


def test_an_item_seen_terminal_before_the_index_existed_gets_the_hour_it_was_seen(
    ddb: Any,
) -> None:
    earlier = H - 5 * HOUR_SECONDS + 12.5
    ddb.put_item(
        TableName=TABLE,
        Item={
            Ledger.PARTITION_KEY: {"S": ORDER},
            Ledger.TERMINAL_SEEN_AT: {"N": f"{earlier:.3f}"},  # no charged_hour yet
        },
    )
    assert claim(ddb, H + 10) is ClaimStatus.CLAIMED
    stored = item(ddb)
    assert stored[Ledger.TERMINAL_SEEN_AT]["N"] == f"{earlier:.3f}"  # the first sighting stays
    assert stored[Ledger.CHARGED_HOUR]["S"] == hour_bucket(earlier)
