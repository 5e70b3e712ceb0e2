"""`dlq redrive --all --wait` on AWS: StartMessageMoveTask, then ListMessageMoveTasks until the
task ends (moto implements neither: botocore's Stubber plays SQS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from operator_cli import cli, move_tasks
from operator_cli.move_tasks import MoveTask
from operator_cli.target import Target

REGION = "eu-west-1"
DLQ_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/relay-dlq"
ORDERS_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/relay-orders"
DLQ_ARN = "arn:aws:sqs:eu-west-1:123456789012:relay-dlq"
ORDERS_ARN = "arn:aws:sqs:eu-west-1:123456789012:relay-orders"
HANDLE = "eyJ0YXNrSWQiOiJhYmMifQ=="
STARTED = 1_764_300_000_000


def entry(status: str, moved: int, to_move: int | None = 10, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Status": status,
        "SourceArn": DLQ_ARN,
        "DestinationArn": ORDERS_ARN,
        "ApproximateNumberOfMessagesMoved": moved,
        "StartedTimestamp": STARTED,
        **extra,
    }
    if to_move is not None:
        out["ApproximateNumberOfMessagesToMove"] = to_move
    if status == "RUNNING":
        out.setdefault("TaskHandle", HANDLE)  # only RUNNING tasks carry their handle
    return out


@pytest.fixture
def sqs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sqs", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_list(stubber: Stubber, *entries: dict[str, Any]) -> None:
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": list(entries)},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )


def expect_start(stubber: Stubber) -> None:
    for url, arn in ((DLQ_URL, DLQ_ARN), (ORDERS_URL, ORDERS_ARN)):
        stubber.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": arn}},
            {"QueueUrl": url, "AttributeNames": ["QueueArn"]},
        )
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": HANDLE},
        {"SourceArn": DLQ_ARN, "DestinationArn": ORDERS_ARN},
    )


def aws_target(client: Any) -> Target:
    t = Target(
        kind="aws",
        name="prod",
        region=REGION,
        orders_queue_url=ORDERS_URL,
        dlq_url=DLQ_URL,
        ledger_table="unused",
        foxreload_base_url="https://fox.test",
        api_key_secret="unused",
    )
    t._clients["sqs"] = client
    return t


def test_follow_polls_until_the_task_ends_and_reports_every_change(
    sqs: tuple[Any, Stubber],
) -> None:
    client, stubber = sqs
    expect_list(stubber)  # not listed yet, a moment after the start
    expect_list(stubber, entry("RUNNING", 0, to_move=None))
    expect_list(stubber, entry("RUNNING", 4))
    expect_list(stubber, entry("RUNNING", 4))  # no change: not reported again
    # finished: no handle any more, known by the start time seen while it ran; an older
    # finished task from yesterday is listed after it
    expect_list(
        stubber,
        entry("COMPLETED", 10),
        entry("COMPLETED", 3, StartedTimestamp=STARTED - 86_400_000),
    )
    seen: list[MoveTask] = []
    sleeps: list[float] = []

    task = move_tasks.follow(client, DLQ_ARN, HANDLE, seen.append, sleep=sleeps.append)

    assert task is not None and task.status == "COMPLETED" and task.moved == 10
    assert [(t.status, t.moved, t.to_move) for t in seen] == [
        ("RUNNING", 0, None),
        ("RUNNING", 4, 10),
        ("COMPLETED", 10, 10),
    ]
    assert sleeps == [move_tasks.POLL_SECONDS] * 4


def test_a_task_that_finished_before_the_first_look_is_the_newest_finished(
    sqs: tuple[Any, Stubber],
) -> None:
    client, stubber = sqs
    expect_list(stubber, entry("COMPLETED", 2, to_move=2))
    task = move_tasks.follow(client, DLQ_ARN, HANDLE, lambda _t: None, sleep=lambda _s: None)
    assert task is not None and task.moved == 2


def test_follow_gives_up_on_a_task_it_never_sees(sqs: tuple[Any, Stubber]) -> None:
    client, stubber = sqs
    for _ in range(3):
        expect_list(stubber, entry("RUNNING", 1, TaskHandle="someone-elses-task"))
    assert (
        move_tasks.follow(
            client, DLQ_ARN, HANDLE, lambda _t: None, sleep=lambda _s: None, missing_polls=3
        )
        is None
    )


def test_redrive_all_wait_on_aws_starts_the_task_and_prints_its_progress(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = sqs
    expect_start(stubber)
    expect_list(stubber, entry("RUNNING", 3))
    expect_list(stubber, entry("COMPLETED", 10))
    monkeypatch.setattr(move_tasks.time, "sleep", lambda _s: None)

    code = cli.main(
        ["dlq", "redrive", "--all", "--include-poison", "--wait", "--env", "prod"],
        target=aws_target(client),
    )

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"started message move task {HANDLE}" in out
    assert "move task RUNNING: 3 of 10 moved" in out
    assert "move task COMPLETED: 10 message(s) moved" in out


def test_a_failed_task_exits_1_with_its_reason(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = sqs
    # --all without --include-poison first scans the DLQ for poison (here: empty)
    stubber.add_response(
        "receive_message",
        {},
        {
            "QueueUrl": DLQ_URL,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 1,
            "VisibilityTimeout": ANY,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        },
    )
    expect_start(stubber)
    expect_list(stubber, entry("FAILED", 1, FailureReason="AWS.SimpleQueueService.KmsAccessDenied"))
    monkeypatch.setattr(move_tasks.time, "sleep", lambda _s: None)

    code = cli.main(["dlq", "redrive", "--all", "--wait"], target=aws_target(client))

    out = capsys.readouterr().out
    assert code == 1
    assert "move task FAILED: 1 message(s) moved" in out
    assert "KmsAccessDenied" in out


def test_redrive_all_with_poison_in_the_dlq_moves_the_rest_itself(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    """A move task would redrive the poison too: the CLI moves the other messages itself."""
    client, stubber = sqs
    poison = {
        "MessageId": "m-poison",
        "ReceiptHandle": "rh-poison",
        "Body": "not json",
        "MessageAttributes": {
            "relay.reason": {"DataType": "String", "StringValue": "not_json"},
        },
    }
    receive = {
        "QueueUrl": DLQ_URL,
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 1,
        "VisibilityTimeout": ANY,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    release = {
        "QueueUrl": DLQ_URL,
        "Entries": [{"Id": "0", "ReceiptHandle": "rh-poison", "VisibilityTimeout": 0}],
    }
    for _scan in ("look for poison", "redrive"):
        stubber.add_response("receive_message", {"Messages": [poison]}, receive)
        stubber.add_response("receive_message", {}, receive)
        stubber.add_response(
            "change_message_visibility_batch", {"Successful": [{"Id": "0"}], "Failed": []}, release
        )

    code = cli.main(["dlq", "redrive", "--all"], target=aws_target(client))

    out = capsys.readouterr().out
    assert code == 0, out
    assert "moving the other messages one by one" in out
    assert "redrove 0 message(s)" in out
    assert "skipped poison: not_json 1 (poison)" in out


def test_tasks_lists_the_dlqs_recent_move_tasks(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sqs
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
    )
    expect_list(stubber, entry("RUNNING", 3), entry("FAILED", 0, FailureReason="denied"))
    assert cli.main(["dlq", "tasks", "--env", "prod"], target=aws_target(client)) == 0
    out = capsys.readouterr().out
    assert "RUNNING" in out and HANDLE in out
    assert "FAILED" in out and "denied" in out
