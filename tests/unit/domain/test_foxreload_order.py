"""What an order says about the account's money (relay.domain.foxreload_order)."""

from __future__ import annotations

import pytest

from relay.domain.foxreload_order import parse_order

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
