"""Durable balance records in the ledger table (relay.adapters.balance_store), over moto."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from relay.adapters.balance_store import (
    RECENT_RECORDS,
    BalanceStore,
    ConcurrentRecordError,
    record_key,
)
from relay.adapters.ledger_queries import LedgerQueries
from relay.domain.balance import Basis, RecordKind, fold
from relay.names import Ledger
from tests.unit.handlers.monitor_world import TABLE, aws

T0 = 1_760_000_000.0


@pytest.fixture
def ddb() -> Iterator[Any]:
    with aws() as client:
        yield client


class Ticker:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 60
        return self.now


def test_empty_store_has_no_basis(ddb: Any) -> None:
    store = BalanceStore(ddb, TABLE)
    assert store.basis() is None
    assert store.history() == []


def test_records_fold_into_the_basis_and_are_kept(ddb: Any) -> None:
    store = BalanceStore(ddb, TABLE, clock=Ticker(T0))
    store.record(RecordKind.TOPUP, Decimal("20"), note="first top-up")
    _, basis = store.record(RecordKind.BALANCE, Decimal("100.50"), note="dashboard")
    assert basis == Basis(Decimal("100.50"), since=T0 + 120, anchored=True)
    store.record(RecordKind.TOPUP, Decimal("49.50"))
    assert store.basis() == Basis(Decimal("150.00"), since=T0 + 120, anchored=True)
    history = store.history()
    assert [(r.kind, r.amount) for r in history] == [
        (RecordKind.TOPUP, Decimal("20")),
        (RecordKind.BALANCE, Decimal("100.50")),
        (RecordKind.TOPUP, Decimal("49.50")),
    ]
    assert history[0].note == "first top-up"
    assert fold(history) == store.basis()
    for record in history:  # one durable item per record, never expiring
        item = ddb.get_item(TableName=TABLE, Key={Ledger.PARTITION_KEY: {"S": record_key(record)}})
        assert Ledger.TTL_ATTRIBUTE not in item["Item"]


def test_recent_records_are_capped_but_history_is_whole(ddb: Any) -> None:
    store = BalanceStore(ddb, TABLE, clock=Ticker(T0))
    for i in range(RECENT_RECORDS + 5):
        store.record(RecordKind.TOPUP, Decimal(i + 1))
    state = store.state()
    assert len(state.recent) == RECENT_RECORDS
    assert state.recent[-1].amount == RECENT_RECORDS + 5
    assert len(store.history()) == RECENT_RECORDS + 5
    total = sum(range(1, RECENT_RECORDS + 6))
    assert state.basis == Basis(Decimal(total), since=T0 + 60, anchored=False)


def test_a_concurrent_writer_is_detected_and_retried(ddb: Any) -> None:
    store = BalanceStore(ddb, TABLE, clock=Ticker(T0))
    other = BalanceStore(ddb, TABLE, clock=Ticker(T0 + 1))
    store.record(RecordKind.BALANCE, Decimal(100))
    real_state = store.state
    raced = {"done": False}

    def state_then_race() -> Any:
        seen = real_state()
        if not raced["done"]:  # another operator records between our read and our write
            raced["done"] = True
            other.record(RecordKind.TOPUP, Decimal(5))
        return seen

    store.state = state_then_race  # type: ignore[method-assign]
    store.record(RecordKind.TOPUP, Decimal(7))
    assert BalanceStore(ddb, TABLE).basis() == Basis(Decimal(112), since=T0 + 60, anchored=True)
    assert len(BalanceStore(ddb, TABLE).history()) == 3


def test_gives_up_when_always_raced(ddb: Any) -> None:
    store = BalanceStore(ddb, TABLE, clock=Ticker(T0))
    other = BalanceStore(ddb, TABLE, clock=Ticker(T0 + 1))
    store.record(RecordKind.BALANCE, Decimal(1))
    real_state = store.state

    def always_raced() -> Any:
        seen = real_state()
        other.record(RecordKind.TOPUP, Decimal(1))
        return seen

    store.state = always_raced  # type: ignore[method-assign]
    with pytest.raises(ConcurrentRecordError):
        store.record(RecordKind.TOPUP, Decimal(7))


def test_balance_items_never_appear_in_the_acceptance_index(ddb: Any) -> None:
    BalanceStore(ddb, TABLE, clock=lambda: T0).record(RecordKind.BALANCE, Decimal(5))
    assert LedgerQueries(ddb, TABLE).accepted_between(T0 - 7200, T0 + 7200) == []
