"""SQS message move tasks (the console's "Start DLQ redrive"): start one, list them, follow one.

moto implements neither StartMessageMoveTask nor ListMessageMoveTasks, so these run on AWS only;
the local stack moves messages one by one (`operator_cli.dead_letters.redrive`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

RUNNING: Final = "RUNNING"
FINISHED: Final = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
POLL_SECONDS: Final = 2.0
MISSING_POLLS: Final = 15  # ListMessageMoveTasks may lag the start by a moment, not by 30 s


@dataclass(frozen=True)
class MoveTask:
    status: str
    moved: int
    to_move: int | None  # known once SQS has selected the task to start
    started_ms: int | None
    handle: str | None  # ListMessageMoveTasks gives it only while the task is RUNNING
    failure_reason: str | None = None
    destination_arn: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> MoveTask:
        to_move = entry.get("ApproximateNumberOfMessagesToMove")
        started = entry.get("StartedTimestamp")
        return cls(
            status=str(entry.get("Status", "UNKNOWN")),
            moved=int(entry.get("ApproximateNumberOfMessagesMoved") or 0),
            to_move=None if to_move is None else int(to_move),
            started_ms=None if started is None else int(started),
            handle=entry.get("TaskHandle"),
            failure_reason=entry.get("FailureReason"),
            destination_arn=entry.get("DestinationArn"),
        )


def start(sqs: Any, source_arn: str, destination_arn: str) -> str:
    """Start moving every message of `source_arn` to `destination_arn`; the task handle."""
    response = sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=destination_arn)
    return str(response["TaskHandle"])


def recent(sqs: Any, source_arn: str) -> list[MoveTask]:
    """The queue's most recent move tasks (at most 10, newest first)."""
    response = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)
    return [MoveTask.from_entry(entry) for entry in response.get("Results", [])]


def find(tasks: list[MoveTask], handle: str, started_ms: int | None) -> MoveTask | None:
    """Our task among `recent` ones. While it runs it carries its handle; once finished it does
    not, and is known by the start time seen while it ran, or (a task that finished before the
    first look) as the newest finished task: SQS runs one move task per queue at a time."""
    for task in tasks:
        if task.handle == handle:
            return task
    for task in tasks:
        if started_ms is not None and task.started_ms == started_ms:
            return task
    if started_ms is None and tasks and tasks[0].finished and tasks[0].handle is None:
        return tasks[0]
    return None


def follow(
    sqs: Any,
    source_arn: str,
    handle: str,
    on_update: Callable[[MoveTask], None],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
    max_polls: int | None = None,
    missing_polls: int = MISSING_POLLS,
) -> MoveTask | None:
    """Poll ListMessageMoveTasks until our task has finished; `on_update` gets every state seen.
    Returns the finished task, or None when the task was not in the list `missing_polls` times
    in a row or `max_polls` ran out (the task itself goes on: SQS runs it, not this process)."""
    started_ms: int | None = None
    polls = missing = 0
    last: MoveTask | None = None
    while max_polls is None or polls < max_polls:
        polls += 1
        task = find(recent(sqs, source_arn), handle, started_ms)
        missing = missing + 1 if task is None else 0
        if missing >= missing_polls:
            return None
        if task is not None:
            started_ms = task.started_ms if started_ms is None else started_ms
            if task != last:
                on_update(task)
            last = task
            if task.finished:
                return task
        sleep(poll_seconds)
    return None
