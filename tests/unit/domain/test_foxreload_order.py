"""What an order says about the account's money (relay.domain.foxreload_order)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.foxreload_order import MAX_PRICE, parse_order, parse_price

NOW = 1_760_000_000.0  # 2025-10-09T08:53:20Z


@pytest.mark.parametrize(
    ("fields", "signal"),
    [
        ({"status": "cancelled", "cancelReason": "payment_failure"}, "cancelled: payment_failure"),
        ({"status": "cancelled", "cancelReason": "payment_expiration"}, None),
        (
            {"status": "active", "paymentExpiresAt": "2025-10-09T08:53:19Z"},
            "active past paymentExpiresAt",
        ),
        ({"status": "active", "paymentExpiresAt": "2025-10-09T08:53:21+00:00"}, None),
        ({"status": "active", "paymentExpiresAt": "not a time"}, None),
        ({"status": "active"}, None),
        (
            {"status": "active", "paymentExpiresAt": "2025-10-09T08:53:19"},
            "active past paymentExpiresAt",
        ),
        ({"status": "active", "paymentExpiresAt": "2025-10-09T08:53:21"}, None),  # naive = UTC
        ({"status": "completed", "paymentExpiresAt": "2020-01-01T00:00:00Z"}, None),
    ],
)
def test_balance_signal(fields: dict[str, str], signal: str | None) -> None:
    items = [{"itemId": "g", "quantity": 1, "externalData": ["C"]}]
    order = parse_order({"id": "o-1", "items": items, **fields})
    assert order.balance_signal(NOW) == signal


# -- prices: metadata, bounded, never a reason to hold a delivery back --------------------------


@pytest.mark.parametrize(
    "raw",
    [float("nan"), float("inf"), -float("inf"), "1e400", "NaN", 10**40, -0.01, "-5", True, [1], {}],
)
def test_unusable_prices_are_ignored(raw):
    assert parse_price(raw) is None
    order = parse_order({"id": "o-1", "status": "processing", "totalPrice": raw})
    assert order.total_price is None and order.price_ignored


def test_an_absent_price_is_not_counted_as_ignored():
    order = parse_order({"id": "o-1", "status": "processing"})
    assert order.total_price is None and not order.price_ignored


@given(st.one_of(st.floats(), st.integers(), st.text(max_size=50)))
def test_a_parsed_price_is_always_a_storable_amount(raw):
    price = parse_price(raw)
    if price is not None:
        assert 0.0 <= price <= MAX_PRICE
        assert f"{price:.3f}" != "nan" and len(f"{price:.3f}".replace(".", "")) <= 38
