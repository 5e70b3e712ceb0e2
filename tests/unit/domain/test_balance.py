"""Balance estimate arithmetic (relay.domain.balance), property-based where it is arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.balance import (
    DAY_SECONDS,
    RUNWAY_CAP_HOURS,
    BalanceRecord,
    BalanceResponseError,
    Basis,
    RecordKind,
    apply,
    assess,
    estimate,
    fold,
    is_low,
    parse_balance_response,
    runway_hours,
)

T0 = 1_760_000_000.0

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
times = st.floats(min_value=T0, max_value=T0 + 30 * DAY_SECONDS, allow_nan=False)


@st.composite
def records(draw: st.DrawFn) -> list[BalanceRecord]:
    count = draw(st.integers(min_value=1, max_value=12))
    result = []
    for i in range(count):
        kind = draw(st.sampled_from(list(RecordKind)))
        result.append(
            BalanceRecord(
                kind=kind, amount=draw(money), recorded_at=draw(times), record_id=f"r{i:02d}"
            )
        )
    return result


def naive_basis(recs: list[BalanceRecord]) -> tuple[Decimal, float, bool]:
    ordered = sorted(recs, key=lambda r: (r.recorded_at, r.record_id))
    anchors = [i for i, r in enumerate(ordered) if r.kind is RecordKind.BALANCE]
    if anchors:
        last = anchors[-1]
        later_topups = sum((r.amount for r in ordered[last + 1 :]), Decimal(0))
        return ordered[last].amount + later_topups, ordered[last].recorded_at, True
    return sum((r.amount for r in ordered), Decimal(0)), ordered[0].recorded_at, False


@given(records())
def test_basis_is_last_balance_plus_later_topups(recs: list[BalanceRecord]) -> None:
    basis = fold(recs)
    assert basis is not None
    assert (basis.amount, basis.since, basis.anchored) == naive_basis(recs)


@given(records())
def test_folding_one_record_at_a_time_equals_folding_all(recs: list[BalanceRecord]) -> None:
    basis: Basis | None = None
    for record in sorted(recs, key=lambda r: (r.recorded_at, r.record_id)):
        basis = apply(basis, record)
    assert basis == fold(recs)
    assert fold(list(reversed(recs))) == fold(recs)  # input order does not matter


@given(records(), money)
def test_estimate_is_basis_minus_spend_since_basis(
    recs: list[BalanceRecord], spent: Decimal
) -> None:
    basis = fold(recs)
    assert basis is not None
    assert estimate(basis, spent) == basis.amount - spent
    assert estimate(basis, Decimal(0)) == basis.amount  # nothing spent yet at the basis


@given(records(), money, money)
def test_estimate_never_rises_with_more_spend(
    recs: list[BalanceRecord], a: Decimal, b: Decimal
) -> None:
    basis = fold(recs)
    assert basis is not None
    low, high = sorted((a, b))
    assert estimate(basis, high) <= estimate(basis, low)


@given(records(), money, money)
def test_topup_raises_the_estimate_by_exactly_its_amount(
    recs: list[BalanceRecord], amount: Decimal, spent: Decimal
) -> None:
    basis = fold(recs)
    assert basis is not None
    last = max(r.recorded_at for r in recs)
    topup = BalanceRecord(RecordKind.TOPUP, amount, recorded_at=last + 1, record_id="zz")
    assert estimate(apply(basis, topup), spent) == estimate(basis, spent) + amount


@given(money, st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000000"), places=2))
def test_runway_hours(spend_24h: Decimal, balance: Decimal) -> None:
    hours = runway_hours(balance, spend_24h)
    assert 0 <= hours <= RUNWAY_CAP_HOURS
    if balance <= 0:
        assert hours == 0
    elif hours < RUNWAY_CAP_HOURS:
        # hours at the 24 h average rate consume exactly the balance
        assert float(spend_24h) / 24 * hours == pytest.approx(float(balance), rel=1e-9)


def test_runway_without_spend_is_capped_not_infinite() -> None:
    assert runway_hours(Decimal(50), Decimal(0)) == RUNWAY_CAP_HOURS
    assert runway_hours(Decimal(0), Decimal(0)) == 0.0


@given(
    st.decimals(min_value=Decimal("-1000"), max_value=Decimal("100000"), places=2),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2),
)
def test_low_balance_is_exactly_below_twice_the_24h_spend(balance: Decimal, spend: Decimal) -> None:
    # as the alarm's expression: IF(balance <= 0, -1, balance - 2 * spend) < 0
    assert is_low(balance, spend) == (balance <= 0 or balance < 2 * spend)


def test_low_balance_boundary() -> None:
    assert not is_low(Decimal("200.00"), Decimal("100.00"))  # equal is not below
    assert is_low(Decimal("199.99"), Decimal("100.00"))
    assert is_low(Decimal(0), Decimal(0))  # nothing left, nothing spent: the alarm fires too
    assert not is_low(Decimal("0.01"), Decimal(0))
    assert is_low(Decimal(50), Decimal(30), multiple=Decimal(3))
    assert not is_low(Decimal(50), Decimal(30), multiple=Decimal("1.5"))


def test_assess_uses_the_endpoint_when_given_and_reports_nothing_without_any_source() -> None:
    spend_24h = Decimal(30)
    assert assess(None, None, spend_24h) is None
    from_endpoint = assess(None, None, spend_24h, endpoint_balance=Decimal(50))
    assert from_endpoint is not None
    assert (from_endpoint.balance, from_endpoint.spend_24h, from_endpoint.source) == (
        50,
        30,
        "endpoint",
    )
    assert from_endpoint.low  # 50 < 2 x 30
    basis = Basis(Decimal(100), since=T0 - 60, anchored=True)
    estimated = assess(basis, Decimal(30), spend_24h)
    assert estimated is not None
    assert (estimated.balance, estimated.source, estimated.low) == (70, "estimate", False)
    assert estimated.runway_hours == pytest.approx(56.0)
    assert assess(basis, None, spend_24h) is None  # estimating needs the spend since the basis


@pytest.mark.parametrize(
    ("amount", "kind"),
    [
        (Decimal("NaN"), RecordKind.BALANCE),
        (Decimal(0), RecordKind.TOPUP),
        (Decimal(-1), RecordKind.BALANCE),
    ],
)
def test_invalid_records_are_refused(amount: Decimal, kind: RecordKind) -> None:
    with pytest.raises(ValueError):
        BalanceRecord(kind, amount, recorded_at=T0)


def test_zero_balance_can_be_recorded() -> None:
    assert BalanceRecord(RecordKind.BALANCE, Decimal(0), recorded_at=T0).amount == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (12.5, Decimal("12.5")),
        ("99.10", Decimal("99.10")),
        ({"balance": 42}, Decimal(42)),
        ({"balance": "42.01", "currency": "USD"}, Decimal("42.01")),
        ({"data": {"amount": 7}}, Decimal(7)),
        ({"balance": {"amount": 3, "currency": "USD"}}, Decimal(3)),
    ],
)
def test_balance_response_shapes(body: object, expected: Decimal) -> None:
    assert parse_balance_response(body) == expected


@pytest.mark.parametrize(
    "body", [None, True, "abc", "NaN", "Infinity", {}, {"error": "x"}, [1], {"balance": None}]
)
def test_unreadable_balance_responses(body: object) -> None:
    with pytest.raises(BalanceResponseError):
        parse_balance_response(body)
