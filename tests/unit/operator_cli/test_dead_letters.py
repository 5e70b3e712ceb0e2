"""Which order a dead letter is about, as the CLI matches it."""

from __future__ import annotations

import json

from operator_cli import common
from operator_cli.dead_letters import DELIVERABLE_REASONS, POISON_REASONS, order_id_of
from relay.domain.decision import (
    DeadLetter,
    Limits,
    Timing,
    after_park,
    after_webhook_retry,
    decide,
)
from relay.domain.order_message import Poison, parse_order_message
from relay.domain.poll_outcome import Kind, PollOutcome
from relay.domain.schedule import SeedPolicy
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


def test_every_reason_the_relay_gives_a_deliverable_order_is_one_the_cli_knows() -> None:
    """`dlq list/redrive --reason R` refuses unknown reasons, so each one the relay's decisions
    can give must be known (supplier_unavailable was not: an operator could not select it)."""
    limits = Limits(give_up_after=900.0, not_found_grace=60.0, auth_failure_delay=120.0)
    late = Timing(attempt=50, elapsed=900.0 + limits.delivery_window)
    given = {
        decide(
            PollOutcome(Kind.PENDING, status="processing"),
            Timing(9, 900.0),
            limits,
            SeedPolicy(),
            0.5,
        ),
        decide(
            PollOutcome(Kind.NOT_FOUND, status="404"), Timing(9, 61.0), limits, SeedPolicy(), 0.5
        ),
        decide(PollOutcome(Kind.API_ERROR, status="502"), late, limits, SeedPolicy(), 0.5),
        after_webhook_retry(late, limits, limits.delivery_window, None, 0.5),
        after_park(late, limits, limits.delivery_window, 30.0),
    }
    reasons = {action.reason for action in given if isinstance(action, DeadLetter)}
    assert reasons == {"deadline", "not_found", "supplier_unavailable", "webhook_unavailable"}
    assert reasons | {"webhook_rejected"} <= DELIVERABLE_REASONS
    assert common.reasons([",".join(sorted(DELIVERABLE_REASONS))]) == sorted(DELIVERABLE_REASONS)
