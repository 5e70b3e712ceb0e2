"""docs/schemas: the JSON Schemas storefronts get agree with what the relay really does.

The order-message schema accepts exactly the bodies the relay's parser takes as they are (no
poison, nothing dropped); the webhook-payload schema accepts the relay's payloads for every
event and names exactly their fields."""

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.foxreload_order import parse_order
from relay.domain.order_message import OrderMessage, parse_order_message
from relay.domain.webhook import signed_request

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schemas"
ORDER_SCHEMA = json.loads((SCHEMAS / "order-message.schema.json").read_text())
WEBHOOK_SCHEMA = json.loads((SCHEMAS / "webhook-payload.schema.json").read_text())
UUID = "7d1c2f0a-3b4e-4f5a-9b6c-1d2e3f4a5b6c"


def schema_accepts(schema, instance) -> bool:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(instance)


def relay_takes_as_is(body: str) -> bool:
    parsed = parse_order_message(body)
    return isinstance(parsed, OrderMessage) and parsed.dropped_ref is None


@pytest.mark.parametrize("schema", [ORDER_SCHEMA, WEBHOOK_SCHEMA], ids=["order", "webhook"])
def test_schemas_are_valid_draft_2020_12_and_their_examples_validate(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    for example in schema["examples"]:
        assert schema_accepts(schema, example)


@pytest.mark.parametrize(
    "message",
    [
        {"v": 1, "order_id": UUID},
        {"v": 1, "order_id": UUID.upper(), "storefront_ref": "cart-42"},
        {"v": 1, "order_id": "ORD_123-x", "storefront_ref": None},
        {"v": 1, "order_id": "a" * 64, "storefront_ref": "r" * 256, "extra": {"kept": True}},
        {"v": 1, "order_id": "ok", "storefront_ref": "ü" * 256},
        {"v": 2, "order_id": UUID},
        {"v": "1", "order_id": UUID},
        {"v": True, "order_id": UUID},
        {"order_id": UUID},
        {"v": 1},
        {"v": 1, "order_id": ""},
        {"v": 1, "order_id": "a" * 65},
        {"v": 1, "order_id": "../admin"},
        {"v": 1, "order_id": UUID + "\n"},
        {"v": 1, "order_id": 42},
        {"v": 1, "order_id": UUID, "storefront_ref": "r" * 257},
        {"v": 1, "order_id": UUID, "storefront_ref": 42},
        [1],
        "text",
    ],
)
def test_order_message_schema_matches_the_relays_parser(message):
    assert schema_accepts(ORDER_SCHEMA, message) == relay_takes_as_is(json.dumps(message))


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "v": st.one_of(st.integers(-1, 3), st.text(max_size=2), st.booleans(), st.none()),
            "order_id": st.one_of(
                st.from_regex(r"[A-Za-z0-9_\-]{0,66}", fullmatch=True),
                st.just(UUID),
                st.text(max_size=70),
                st.integers(),
            ),
            "storefront_ref": st.one_of(st.none(), st.text(max_size=300), st.integers()),
        },
    )
)
def test_order_message_schema_agrees_with_the_parser_on_generated_messages(message):
    assert schema_accepts(ORDER_SCHEMA, message) == relay_takes_as_is(json.dumps(message))


FOX_ORDERS = {
    "order.delivered": {
        "id": UUID,
        "status": "completed",
        "totalPrice": 25.0,
        "items": [
            {"itemId": "psn-20", "quantity": 2, "externalData": ["C-1", {"code": "C-2"}]},
            {"itemId": "steam-10", "quantity": 1, "externalData": ["C-3"], "error": None},
        ],
    },
    "order.failed": {
        "id": "ORD_9",
        "status": "FAILED",
        "items": [{"itemId": "psn-20", "externalData": [], "error": "out_of_stock"}],
    },
    "order.cancelled": {
        "id": UUID,
        "status": "cancelled",
        "cancelReason": "payment_failure",
        "items": [{"id": 17, "externalData": None}, {"quantity": 1}],
    },
}


@pytest.mark.parametrize("event", sorted(FOX_ORDERS))
@pytest.mark.parametrize("occurred_at", [1_764_223_200.0, 1_764_223_200.123])
@pytest.mark.parametrize("ref", [None, "cart-42"])
def test_webhook_payloads_validate(event, occurred_at, ref):
    order = parse_order(FOX_ORDERS[event])
    req = signed_request("whsec_c2VjcmV0", order, event, ref, 1_764_223_260.0, occurred_at)
    payload = json.loads(req.body)
    assert schema_accepts(WEBHOOK_SCHEMA, payload)
    assert set(payload) == set(WEBHOOK_SCHEMA["required"]) == set(WEBHOOK_SCHEMA["properties"])
    item_schema = WEBHOOK_SCHEMA["properties"]["items"]["items"]
    for item in payload["items"]:
        assert set(item) == set(item_schema["required"]) == set(item_schema["properties"])


def test_webhook_schema_refuses_what_the_relay_never_sends():
    order = parse_order(FOX_ORDERS["order.delivered"])
    good = json.loads(signed_request("s", order, "order.delivered", None, 1e9, 1e9).body)
    assert schema_accepts(WEBHOOK_SCHEMA, good)
    for change in (
        {"event": "order.shipped"},
        {"status": "failed"},  # does not match order.delivered
        {"occurred_at": "2026-11-27 06:00:00"},
        {"items": [{"item_id": "x", "codes": [1], "error": None}]},
    ):
        assert not schema_accepts(WEBHOOK_SCHEMA, {**good, **change}), change
    assert not schema_accepts(WEBHOOK_SCHEMA, {k: v for k, v in good.items() if k != "items"})
