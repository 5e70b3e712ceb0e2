"""The spend index (relay.adapters.spend_index) against an in-process moto ledger."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from relay.adapters.spend_index import SpendIndex
from relay.domain.hours import HOUR_SECONDS, bucket_start, hour_bucket
from relay.names import Ledger
from tests.unit.handlers.monitor_world import CHARGED_OUTCOMES, TABLE, aws, put_order

HOUR = bucket_start("2025100900")
SETTLE = 900.0


@pytest.fixture
def ddb() -> Iterator[Any]:
    with aws() as client:
        yield client


def charges(ddb: Any, seed: int, count: int, hours: int) -> list[tuple[float, Decimal, str]]:
    """Orders spread over `hours` from HOUR: delivered, failed (charged) and cancelled."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        seen = round(HOUR + rng.uniform(0, hours * HOUR_SECONDS), 3)
        if i % 7 == 0:
            seen = HOUR + rng.randrange(hours) * HOUR_SECONDS  # exactly on an hour's first second
        price = Decimal(rng.randrange(100, 10_000)) / 100
        outcome = rng.choice(["delivered", "delivered", "failed", "cancelled"])
        put_order(
            ddb,
            f"o{i:04d}",
            seen - 30,
            outcome=outcome,
            terminal_seen_at=seen,
            outcome_at=seen + 1,
            total_price=price,
        )
        made.append((seen, price, outcome))
    return made


def brute_force(made: list[tuple[float, Decimal, str]], start: float, end: float) -> Decimal:
    return sum(
        (p for t, p, o in made if start < t <= end and o in CHARGED_OUTCOMES), Decimal(0)
    )


def test_window_sums_match_a_brute_force_sum(ddb: Any) -> None:
    made = charges(ddb, seed=7, count=300, hours=30)
    index = SpendIndex(ddb, TABLE, SETTLE)
    rng = random.Random(11)
    now = HOUR + 31 * HOUR_SECONDS
    windows = [(HOUR - 1, now), (HOUR, HOUR + HOUR_SECONDS), (HOUR + 3600, HOUR + 7200.5)]
    windows += [tuple(sorted((rng.uniform(HOUR, now), rng.uniform(HOUR, now)))) for _ in range(40)]
    windows += [(t - 5, t) for t, _, _ in made[:10]] + [(t, t + 5) for t, _, _ in made[:10]]
    for start, end in windows:
        assert index.spend_between(start, end, now) == brute_force(made, start, end), (start, end)


def kept(ddb: Any) -> dict[str, Decimal]:
    items = ddb.scan(TableName=TABLE)["Items"]
    return {
        i[Ledger.PARTITION_KEY]["S"].removeprefix(Ledger.SPEND_HOUR_PREFIX): Decimal(
            i["spend"]["N"]
        )
        for i in items
        if i[Ledger.PARTITION_KEY]["S"].startswith(Ledger.SPEND_HOUR_PREFIX)
    }


def test_settled_hours_are_summed_once_and_kept(ddb: Any) -> None:
    made = charges(ddb, seed=3, count=120, hours=6)
    index = SpendIndex(ddb, TABLE, SETTLE)
    now = HOUR + 5 * HOUR_SECONDS + 600  # hour 4 ended 600 s ago: not settled yet
    start, end = HOUR - 1, now
    first = index.spend_between(start, end, now)
    assert first == brute_force(made, start, end)

    stored = kept(ddb)
    assert sorted(stored) == [hour_bucket(HOUR + h * HOUR_SECONDS) for h in range(4)]
    for bucket, amount in stored.items():
        b0 = bucket_start(bucket)
        assert amount == brute_force(made, b0 - 0.0005, b0 + HOUR_SECONDS - 0.0005)
    assert all(
        int(i[Ledger.TTL_ATTRIBUTE]["N"]) > now + 90 * 86_400
        for i in ddb.scan(TableName=TABLE)["Items"]
        if i[Ledger.PARTITION_KEY]["S"].startswith(Ledger.SPEND_HOUR_PREFIX)
    )

    # A late entry stamped in a kept hour is not read again (kept sums are final by design);
    # one in the hour still filling is.
    put_order(
        ddb, "late-kept", HOUR, outcome="delivered", terminal_seen_at=HOUR + 60, total_price="1000"
    )
    put_order(
        ddb, "late-open", now - 30, outcome="delivered", terminal_seen_at=now - 20, total_price="7"
    )
    assert index.spend_between(start, end, now) == first + 7


def test_uncharged_and_pending_orders_are_not_spend(ddb: Any) -> None:
    put_order(
        ddb, "cancelled", HOUR + 10, outcome="cancelled", outcome_at=HOUR + 20, total_price="9"
    )
    put_order(ddb, "pending", HOUR + 10)
    put_order(ddb, "free", HOUR + 10, outcome="delivered", terminal_seen_at=HOUR + 30)
    put_order(
        ddb, "paid", HOUR + 10, outcome="failed", terminal_seen_at=HOUR + 40, total_price="2.5"
    )
    index = SpendIndex(ddb, TABLE, SETTLE)
    assert index.spend_between(HOUR, HOUR + 60, HOUR + 120) == Decimal("2.5")


def test_a_reader_that_does_not_keep_sums_writes_nothing(ddb: Any) -> None:
    made = charges(ddb, seed=5, count=40, hours=4)
    now = HOUR + 6 * HOUR_SECONDS
    reader = SpendIndex(ddb, TABLE, SETTLE, keep_sums=False)
    assert reader.spend_between(HOUR - 1, now, now) == brute_force(made, HOUR - 1, now)
    assert kept(ddb) == {}
