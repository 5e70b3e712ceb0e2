"""`show --ref` and `redeliver` through the real entry point against the local stack (DynamoDB
Local, the FoxReload simulator, the storefront receiver, the real pollers): the storefront
receives the redelivery under the same key with a byte-identical body, the attempt log shows
the operator, and an order that is not terminal is refused with the reason."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.stack import LocalStack
from relay.adapters.ledger import LedgerTable
from tests.integration.wire_helpers import operator_cli, wait_until

pytestmark = pytest.mark.wire


def test_show_by_ref_then_redeliver_the_same_bytes_under_the_same_key(
    stack: LocalStack, pollers: EsmRunner, state_file: Path
) -> None:
    assert stack.receiver is not None and stack.simulator is not None
    order_id = str(stack.simulator.create_order(timeline=[["paid", 0], ["completed", 1]])["id"])
    ref = f"shop-{uuid.uuid4().hex[:10]}"
    stack.send_order(order_id, storefront_ref=ref)
    key = f"{order_id}:order.delivered"
    wait_until(lambda: key in stack.receiver.unique_deliveries(), timeout=90)

    shown = operator_cli(state_file, "show", "--ref", ref)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"order {order_id}" in shown.stdout
    assert "webhook attempts (newest last):" in shown.stdout
    assert ": HTTP 200 in " in shown.stdout

    sent = operator_cli(state_file, "redeliver", order_id)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"webhook-id {key}" in sent.stdout and "HTTP 200" in sent.stdout

    def both() -> list[object] | None:
        found = [d for d in stack.receiver.deliveries() if d.idempotency_key == key]
        return found if len(found) == 2 else None

    first, again = wait_until(both, timeout=10)
    assert again.duplicate and again.body_sha256 == first.body_sha256
    assert again.storefront_ref == ref

    as_json = operator_cli(state_file, "show", order_id, "--json")
    log = json.loads(as_json.stdout)["ledger"]["attempt_log"]
    assert log[-1]["actor"] == "operator" and log[-1]["status"] == 200
    assert [a["n"] for a in log] == list(range(1, len(log) + 1))

    codes = [code for item in stack.simulator.codes(order_id) for code in item]
    assert codes
    for out in (shown.stdout, sent.stdout, as_json.stdout):
        assert not any(code in out for code in codes)
    assert stack.resources is not None
    record = LedgerTable(stack.client("dynamodb"), stack.resources.ledger_table).get(order_id)
    assert record is not None and record.outcome == "delivered"


def test_an_order_that_is_not_terminal_is_refused(
    stack: LocalStack, pollers: EsmRunner, state_file: Path
) -> None:
    assert stack.simulator is not None and stack.resources is not None
    pending = str(stack.simulator.create_order(timeline=[["paid", 0]])["id"])  # never finishes
    stack.send_order(pending)
    ledger = LedgerTable(stack.client("dynamodb"), stack.resources.ledger_table)
    wait_until(lambda: ledger.get(pending), timeout=60)  # the relay accepted it

    refused = operator_cli(state_file, "redeliver", pending, "never-seen-1")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"order {pending}: refused: {pending}: not terminal" in refused.stdout
    assert "order never-seen-1: refused" in refused.stdout
    record = ledger.get(pending)
    assert record is not None and record.attempt_log == ()
