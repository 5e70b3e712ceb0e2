import json

import pytest

from relay.domain.order_message import OrderMessage, Poison, is_valid_order_id, parse_order_message

UUID = "3f2b8c1e-9a4d-4c7b-8e21-5d6f7a8b9c0d"


def test_valid_v1_message_parses_and_keeps_ref():
    parsed = parse_order_message(json.dumps({"v": 1, "order_id": UUID, "storefront_ref": "S-1"}))
    assert parsed == OrderMessage(order_id=UUID, storefront_ref="S-1", version=1)


def test_extra_fields_are_ignored():
    parsed = parse_order_message(json.dumps({"v": 1, "order_id": "abc_123-X", "extra": {"a": 1}}))
    assert isinstance(parsed, OrderMessage)
    assert parsed.storefront_ref is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty_body"),
        ("   \n", "empty_body"),
        (None, "empty_body"),
        ("not json {", "not_json"),
        ("[1, 2]", "not_object"),
        ('"just a string"', "not_object"),
        (json.dumps({"order_id": UUID}), "unknown_version"),
        (json.dumps({"v": 2, "order_id": UUID}), "unknown_version"),
        (json.dumps({"v": "1", "order_id": UUID}), "unknown_version"),
        (json.dumps({"v": True, "order_id": UUID}), "unknown_version"),
        (json.dumps({"v": 1}), "missing_order_id"),
        (json.dumps({"v": 1, "order_id": "../x"}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": "a" * 10_240}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": "заказ-1"}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": "1'; DROP TABLE orders;--"}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": "$(rm -rf /)"}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": "a b"}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": "x" * 65}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": 12345}), "invalid_order_id"),
        (json.dumps({"v": 1, "order_id": None}), "invalid_order_id"),
    ],
)
def test_poison_bodies_are_rejected_with_a_stable_reason(body, reason):
    parsed = parse_order_message(body)
    assert isinstance(parsed, Poison)
    assert parsed.reason == reason
    assert parsed.detail


def test_reason_detail_of_huge_id_is_short_and_ascii():
    parsed = parse_order_message(json.dumps({"v": 1, "order_id": "ж" * 10_240}))
    assert isinstance(parsed, Poison)
    assert len(parsed.detail) < 200
    parsed.detail.encode("ascii")


@pytest.mark.parametrize("value", [UUID, UUID.upper(), "a", "A" * 64, "ord_123-abc"])
def test_valid_order_ids(value):
    assert is_valid_order_id(value)


@pytest.mark.parametrize("value", ["", "a/b", "a.b", "a%2F", "x" * 65, "ü", "\n", None, 5])
def test_invalid_order_ids(value):
    assert not is_valid_order_id(value)


@pytest.mark.parametrize("ref", [7, ["a"], {"x": 1}, "r" * 257, True])
def test_an_unusable_storefront_ref_is_dropped_not_poison(ref):
    """Poison is about the body, the version and the order id; the paid order goes on
    without the optional reference, and the message says why."""
    parsed = parse_order_message(json.dumps({"v": 1, "order_id": UUID, "storefront_ref": ref}))
    assert isinstance(parsed, OrderMessage)
    assert parsed.order_id == UUID.lower()
    assert parsed.storefront_ref is None
    assert parsed.dropped_ref is not None and "storefront_ref" in parsed.dropped_ref


def test_a_256_character_ref_is_kept():
    parsed = parse_order_message(
        json.dumps({"v": 1, "order_id": UUID, "storefront_ref": "r" * 256})
    )
    assert isinstance(parsed, OrderMessage) and parsed.storefront_ref == "r" * 256
    assert parsed.dropped_ref is None
