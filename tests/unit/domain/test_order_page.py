"""A listed order's age is the page's Date minus its createdAt, on whatever clock both come."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.order_page import parse_order_page


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _page(created: float) -> bytes:
    return json.dumps(
        {"items": [{"id": "o-1", "status": "processing", "createdAt": _iso(created)}]}
    ).encode()


@given(
    server_now=st.integers(min_value=1_600_000_000, max_value=1_900_000_000),
    age=st.integers(min_value=0, max_value=86_400),
    relay_now=st.floats(min_value=1_600_000_000, max_value=1_900_000_000),
)
def test_the_age_is_date_minus_created_whatever_the_skew(
    server_now: int, age: int, relay_now: float
) -> None:
    page = parse_order_page(_page(server_now - age), formatdate(server_now, usegmt=True), relay_now)
    assert page.listed[0].created_at == pytest.approx(relay_now - age, abs=1e-3)


def test_without_a_date_header_the_clocks_are_taken_to_agree() -> None:
    page = parse_order_page(_page(1_700_000_000.0), None, 1_800_000_000.0)
    assert page.listed[0].created_at == pytest.approx(1_700_000_000.0)


def test_an_order_from_the_future_is_aged_zero() -> None:
    page = parse_order_page(_page(1_700_000_100.0), formatdate(1_700_000_000, usegmt=True), 5.0)
    assert page.listed[0].created_at == pytest.approx(5.0)
