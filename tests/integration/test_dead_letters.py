"""Poison messages, dead letters with reasons, and redrive through the operator CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.stack import LocalStack
from relay.names import DeadLetterAttr
from tests.integration.wire_helpers import dead_letters, operator_cli, wait_until

pytestmark = pytest.mark.wire


def _paid_order(stack: LocalStack) -> str:
    assert stack.simulator is not None
    # Fast enough that the order is completed by its first poll or shortly after.
    return str(stack.simulator.create_order(timeline=[["paid", 0], ["completed", 1]])["id"])


def _letters_for(stack: LocalStack, order_ids: set[str]):
    return {d.order_id: d for d in dead_letters(stack) if d.order_id in order_ids}


def test_poison_messages_go_to_the_dlq_at_once_with_their_reason_and_body_intact(
    stack: LocalStack, pollers: EsmRunner, state_file: Path
) -> None:
    assert stack.simulator is not None
    nonce = uuid.uuid4().hex
    poison = {
        f"not json {nonce}": "not_json",
        "   ": "empty_body",
        json.dumps({"v": 1, "nonce": nonce}): "missing_order_id",
        json.dumps({"v": 1, "order_id": "../x", "nonce": nonce}): "invalid_order_id",
        json.dumps({"v": 1, "order_id": "a;rm -rf /", "nonce": nonce}): "invalid_order_id",
        json.dumps({"v": 9, "order_id": "abc", "nonce": nonce}): "unknown_version",
    }
    gets_before = dict(stack.simulator.stats_snapshot()["orderGets"])
    for body in poison:
        stack.send_raw(body)

    def all_dead() -> dict[str, object] | None:
        found = {d.body: d for d in dead_letters(stack) if d.body in poison}
        return found if len(found) == len(poison) else None

    found = wait_until(all_dead, timeout=60)

    for body, reason in poison.items():
        letter = found[body]
        assert letter.reason == reason, body
        assert letter.detail, body
        assert letter.attempts == "1", "poison is never retried"
        assert letter.attributes[DeadLetterAttr.REASON]["DataType"] == "String"
    gets_after = stack.simulator.stats_snapshot()["orderGets"]
    new_ids = {k for k, n in gets_after.items() if n != gets_before.get(k)}
    assert not new_ids & {"../x", "a;rm -rf /", "abc"}, "FoxReload was called with a bad id"

    # the operator CLI filters by reason, refuses to redrive poison, and purges it
    listed = operator_cli(state_file, "dlq", "list", "--reason", "unknown_version", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["reason"] for r in rows} == {"unknown_version"}
    assert json.dumps({"v": 9, "order_id": "abc", "nonce": nonce}) in {r["body"] for r in rows}
    refused = operator_cli(state_file, "dlq", "redrive", "--reason", "not_json")
    assert refused.returncode == 2 and "--include-poison" in refused.stderr

    # clean up: these stay dead, the DLQ is shared by the session
    reasons = ",".join(sorted(set(poison.values())))
    purged = operator_cli(state_file, "dlq", "purge", "--reason", reasons, "--yes", "--json")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert set(poison) <= {json.loads(line)["body"] for line in purged.stdout.splitlines()}
    assert not [d for d in dead_letters(stack) if d.body in poison]


def test_rejected_orders_listed_then_one_redriven_selectively_and_delivered(
    stack: LocalStack, pollers: EsmRunner, state_file: Path
) -> None:
    assert stack.receiver is not None
    redriven, left = _paid_order(stack), _paid_order(stack)
    for order_id in (redriven, left):
        stack.receiver.script([400], order_id=order_id)  # a permanent storefront rejection
        stack.send_order(order_id, storefront_ref=f"ref-{order_id[:6]}")

    letters = wait_until(
        lambda: (found := _letters_for(stack, {redriven, left})) and len(found) == 2 and found,
        timeout=90,
    )
    assert {d.reason for d in letters.values()} == {"webhook_rejected"}
    original_bodies = {order_id: d.body for order_id, d in letters.items()}

    listed = operator_cli(state_file, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["order_id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows[redriven]["reason"] == "webhook_rejected"
    # "completed" when a poll met the refusal; none when the sweeper met it and recorded it in
    # the ledger, and the order's message was then dead-lettered without a poll
    assert rows[left]["last_status"] in ("completed", None), listed.stdout
    assert len(_letters_for(stack, {redriven, left})) == 2, "listing removed a dead letter"

    moved = operator_cli(state_file, "dlq", "redrive", redriven.upper())  # any UUID spelling
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "redrove 1 message" in moved.stdout

    wait_until(lambda: redriven in stack.receiver.delivered_order_ids(), timeout=90)
    delivery = stack.receiver.unique_deliveries()[f"{redriven}:order.delivered"]
    assert delivery.storefront_ref == f"ref-{redriven[:6]}"  # the body went back byte for byte
    assert json.loads(original_bodies[redriven])["storefront_ref"] == delivery.storefront_ref
    assert not [key for key in stack.receiver.duplicates() if key.startswith(redriven)]
    remaining = _letters_for(stack, {redriven, left})
    assert set(remaining) == {left}
    assert remaining[left].body == original_bodies[left]

    # and the rest with --all (moto has no StartMessageMoveTask: the CLI moves them itself)
    everything = operator_cli(state_file, "dlq", "redrive", "--all")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    wait_until(lambda: left in stack.receiver.delivered_order_ids(), timeout=90)
    assert _letters_for(stack, {redriven, left}) == {}


def test_enqueue_and_show_through_the_operator_cli_never_print_codes(
    stack: LocalStack, pollers: EsmRunner, state_file: Path
) -> None:
    assert stack.receiver is not None and stack.simulator is not None
    order_id = _paid_order(stack)

    sent = operator_cli(state_file, "enqueue", order_id, "--ref", "cli-ref")
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: order_id in stack.receiver.delivered_order_ids(), timeout=90)

    shown = operator_cli(state_file, "show", order_id, "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["ledger"]["outcome"] == "delivered"
    assert view["ledger"]["storefront_ref"] == "cli-ref"
    assert view["foxreload"]["status"] == "completed"
    assert view["foxreload"]["balance_signal"] is None
    upper = operator_cli(state_file, "show", order_id.upper(), "--json")
    assert json.loads(upper.stdout)["ledger"]["outcome"] == "delivered"  # one key per order
    human = operator_cli(state_file, "show", order_id)
    codes = [code for item in stack.simulator.codes(order_id) for code in item]
    assert codes
    for code in codes:
        assert code not in shown.stdout and code not in human.stdout
