"""DLQ scans against in-process moto SQS: hold, reason filters, poison, purge, the CLI's output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from operator_cli import cli, dead_letters
from operator_cli.dead_letters import DeadLetter, Hold
from operator_cli.target import Target
from relay.names import DeadLetterAttr

REGION = "eu-west-1"
A = "0b7c2a52-1f7e-4b8e-9d8e-2f4a7c1e9a10"
B = "1c8d3b63-2a8f-4c9f-8e9f-3a5b8d2f0b21"


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queues(sqs: Any) -> dict[str, str]:
    return {
        name: sqs.create_queue(QueueName=f"relay-{name}")["QueueUrl"] for name in ("orders", "dlq")
    }


@pytest.fixture
def target(sqs: Any, queues: dict[str, str]) -> Target:
    """The local stack's kind of target (moto has no move tasks), on in-process moto."""
    t = Target(
        kind="local",
        name="test",
        region=REGION,
        orders_queue_url=queues["orders"],
        dlq_url=queues["dlq"],
        ledger_table="unused",
        foxreload_base_url="https://fox.test",
        api_key_secret="unused",
    )
    t._clients["sqs"] = sqs
    return t


def dead(sqs: Any, url: str, body: str, reason: str | None, **extra: str) -> None:
    attrs: dict[str, Any] = {
        name: {"DataType": "String", "StringValue": value} for name, value in extra.items()
    }
    if reason is not None:
        attrs[DeadLetterAttr.REASON] = {"DataType": "String", "StringValue": reason}
        attrs[DeadLetterAttr.DETAIL] = {"DataType": "String", "StringValue": f"why: {reason}"}
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)


def order(order_id: str, ref: str = "r") -> str:
    return json.dumps({"v": 1, "order_id": order_id, "storefront_ref": ref})


def fill(sqs: Any, queues: dict[str, str]) -> None:
    dlq = queues["dlq"]
    dead(sqs, dlq, order(A), "deadline")
    dead(sqs, dlq, order(B), "webhook_rejected", **{"shop.trace": "t-1"})
    dead(sqs, dlq, "not json at all", "not_json")
    dead(sqs, dlq, json.dumps({"v": 9, "order_id": "abc"}), "unknown_version")
    dead(sqs, dlq, order("crash-loop-1"), None)  # moved by maxReceiveCount


def bodies(sqs: Any, url: str) -> list[str]:
    """Every visible message's body, leaving them in place."""
    return sorted(d.body for d in dead_letters.peek(sqs, url, wait_seconds=0))


def run(target: Target, *argv: str) -> int:
    return cli.main(list(argv), target=target)


class FakeSqs:
    """Records ChangeMessageVisibilityBatch calls (the Hold's only call)."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    def change_message_visibility_batch(
        self, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self.calls.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def letter(message_id: str) -> DeadLetter:
    return DeadLetter(
        message_id, f"rh-{message_id}", "{}", None, None, None, None, None, None, None, None
    )


def test_hold_extends_visibility_before_it_runs_out_and_releases_at_the_end() -> None:
    now = [0.0]
    sqs = FakeSqs()
    hold = Hold(sqs, "dlq", visibility_seconds=30, clock=lambda: now[0])
    assert [d.message_id for d in hold.add([letter("m1"), letter("m2")], received_at=0.0)] == [
        "m1",
        "m2",
    ]
    now[0] = 10.0
    hold.keep_hidden()
    assert sqs.calls == [], "20 s of visibility left: nothing to do yet"
    now[0] = 19.0
    hold.keep_hidden()
    assert [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in sqs.calls[-1]] == [
        ("rh-m1", 30),
        ("rh-m2", 30),
    ]
    now[0] = 30.0  # the first hold would have run out at 30: extended to 49
    hold.keep_hidden()
    assert len(sqs.calls) == 1
    # received again all the same: recognised, newest receipt handle kept
    assert hold.add([letter("m1")], received_at=30.0) == []
    hold.drop(hold.letters[1])  # m2 moved
    assert hold.add([letter("m2")], received_at=30.0) == [], "a moved message is never new again"
    hold.release()
    assert [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in sqs.calls[-1]] == [("rh-m1", 0)]
    assert len(hold) == 0


def test_a_long_selective_scan_keeps_unselected_messages_hidden_and_sees_each_once(
    sqs: Any, queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan longer than the receive visibility: held messages are extended, so none is
    received twice, and all unselected ones are visible again afterwards."""
    import time

    monkeypatch.setattr(dead_letters, "PEEK_VISIBILITY_SECONDS", 2)
    for i in range(14):
        dead(sqs, queues["dlq"], order(f"slow-{i}"), "deadline")
    received: list[str] = []
    real_receive = sqs.receive_message

    def spy(**kwargs: Any) -> Any:
        response = real_receive(**kwargs)
        received.extend(m["MessageId"] for m in response.get("Messages", []))
        return response

    monkeypatch.setattr(sqs, "receive_message", spy)

    def slow_select(d: DeadLetter) -> bool:
        time.sleep(0.25)  # 14 x 0.25 s = 3.5 s, longer than the 2 s visibility
        return d.order_id == "slow-3"

    result = dead_letters.redrive(sqs, queues["dlq"], queues["orders"], slow_select, wait_seconds=0)
    assert [d.order_id for d in result.moved] == ["slow-3"]
    assert result.kept == 13
    assert len(received) == len(set(received)) == 14, "a held message was received again"
    monkeypatch.undo()
    assert len(bodies(sqs, queues["dlq"])) == 13, "unselected messages were released"


def test_list_filters_by_reason_and_prints_a_table(
    target: Target, sqs: Any, queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sqs, queues)
    assert run(target, "dlq", "list", "--reason", "deadline,none", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((r["order_id"], r["reason"]) for r in rows) == [
        (A, "deadline"),
        ("crash-loop-1", None),
    ]
    assert run(target, "dlq", "list", "--reason", "not_json") == 0
    out = capsys.readouterr().out
    assert "1 dead letter(s) with reason not_json" in out
    assert "not_json 1 (poison)" in out and "deadline 1" in out  # the whole DLQ by reason
    assert "why: not_json" in out
    assert len(bodies(sqs, queues["dlq"])) == 5, "listing removed a dead letter"


def test_redrive_all_skips_poison_and_moves_the_rest_byte_for_byte(
    target: Target, sqs: Any, queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sqs, queues)
    assert run(target, "dlq", "redrive", "--all") == 0
    out = capsys.readouterr().out
    assert "redrove 3 message(s)" in out
    assert "left 2 other message(s) in the DLQ" in out
    assert "skipped poison: not_json 1 (poison), unknown_version 1 (poison)" in out
    moved = sqs.receive_message(
        QueueUrl=queues["orders"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in moved) == sorted([order(A), order(B), order("crash-loop-1")])
    by_body = {m["Body"]: m.get("MessageAttributes", {}) for m in moved}
    assert set(by_body[order(B)]) == {"shop.trace"}, "relay.* dropped, storefront's kept"
    assert bodies(sqs, queues["dlq"]) == sorted(
        ["not json at all", json.dumps({"v": 9, "order_id": "abc"})]
    )


def test_redrive_with_include_poison_moves_poison_too(
    target: Target, sqs: Any, queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sqs, queues)
    assert run(target, "dlq", "redrive", "--reason", "not_json", "--include-poison") == 0
    assert "redrove 1 message(s)" in capsys.readouterr().out
    assert len(bodies(sqs, queues["dlq"])) == 4
    assert run(target, "dlq", "redrive", "--all", "--include-poison") == 0
    assert bodies(sqs, queues["dlq"]) == []


def test_redrive_by_reason_and_by_order_id(
    target: Target, sqs: Any, queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sqs, queues)
    assert run(target, "dlq", "redrive", "--reason", "webhook_rejected") == 0
    assert f"redrove 1 message(s): {B}" in capsys.readouterr().out
    # an order id that is only poison, one that is absent, one that is there
    dead(sqs, queues["dlq"], json.dumps({"v": 9, "order_id": "poison-7"}), "unknown_version")
    assert run(target, "dlq", "redrive", A.upper(), "poison-7", "absent-1") == 1
    out = capsys.readouterr().out
    assert f"redrove 1 message(s): {A}" in out
    assert "not found in the DLQ: absent-1" in out
    assert "poison, not redriven: poison-7" in out


def test_purge_deletes_only_the_named_poison(
    target: Target, sqs: Any, queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sqs, queues)
    assert (
        run(target, "dlq", "purge", "--reason", "not_json,unknown_version", "--yes", "--json") == 0
    )
    captured = capsys.readouterr()
    deleted = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted(d["body"] for d in deleted) == sorted(
        ["not json at all", json.dumps({"v": 9, "order_id": "abc"})]
    ), "the deleted bodies are printed for the storefront team"
    assert "deleted 2 dead letter(s)" in captured.err
    assert bodies(sqs, queues["dlq"]) == sorted([order(A), order(B), order("crash-loop-1")])
    assert run(target, "dlq", "purge", "--reason", "deadline", "--force", "--yes") == 0
    out = capsys.readouterr().out
    assert "deleted 1 dead letter(s) (deadline 1)" in out
    assert "left 2 other message(s) in the DLQ" in out
    assert len(bodies(sqs, queues["dlq"])) == 2


def test_tasks_on_the_local_stack_says_there_are_none(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(target, "dlq", "tasks") == 0
    assert "no message move tasks" in capsys.readouterr().out
