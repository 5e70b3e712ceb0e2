"""Which order a dead letter is about, as the CLI matches it."""

from __future__ import annotations

import json

from operator_cli.dead_letters import order_id_of
from relay.names import DeadLetterAttr

UPPER = "3F2B8C1E-9A4D-4C7B-8E21-5D6F7A8B9C0D"


def test_a_body_without_the_relays_attribute_is_matched_by_its_canonical_id() -> None:
    """SQS moved it after maxReceiveCount (no relay.* attributes): the body's order id, spelled
    as the relay keys orders, so `dlq redrive <id>` finds it whatever case was typed or sent."""
    body = json.dumps({"v": 1, "order_id": UPPER})
    assert order_id_of(body, {}) == UPPER.lower()
    assert order_id_of(json.dumps({"v": 1, "order_id": "Shop_Order-7"}), {}) == "Shop_Order-7"


def test_the_relays_attribute_wins_and_unreadable_bodies_have_no_order() -> None:
    attrs = {DeadLetterAttr.ORDER_ID: {"DataType": "String", "StringValue": "abc"}}
    assert order_id_of(json.dumps({"order_id": "zzz"}), attrs) == "abc"
    assert order_id_of("not json", {}) is None
    assert order_id_of(json.dumps({"order_id": 7}), {}) is None
