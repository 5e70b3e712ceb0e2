"""Which order a dead letter is about, as the CLI matches it."""

from __future__ import annotations

import json

from operator_cli.dead_letters import DELIVERABLE_REASONS, POISON_REASONS, order_id_of
from relay.domain.order_message import Poison, parse_order_message
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


def test_an_invalid_order_id_in_a_body_is_no_order_id() -> None:
    """Poison's body may carry anything as order_id: it is never shown or matched as one."""
    assert order_id_of(json.dumps({"v": 1, "order_id": "../x"}), {}) is None
    assert order_id_of(json.dumps({"v": 1, "order_id": "\x1b[31mred"}), {}) is None


def test_the_cli_poison_reasons_are_the_relays() -> None:
    """Every reason the relay's validator gives a poison body is one the CLI treats as poison."""
    bodies = [
        "",
        "not json",
        "[1]",
        json.dumps({"v": 9, "order_id": "abc"}),
        json.dumps({"v": 1}),
        json.dumps({"v": 1, "order_id": "../x"}),
    ]
    reasons = set()
    for body in bodies:
        parsed = parse_order_message(body)
        assert isinstance(parsed, Poison), body
        reasons.add(parsed.reason)
    assert reasons == POISON_REASONS
    assert not POISON_REASONS & DELIVERABLE_REASONS
