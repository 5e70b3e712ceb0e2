"""Poll outcome -> what the relay does next (design.md's outcome table), as a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from relay.domain.poll_outcome import Kind, PollOutcome
from relay.domain.schedule import Policy, ScheduleInput, clip_to_deadline, visibility_timeout

EVENT_FOR_KIND: Final = {
    Kind.COMPLETED: "order.delivered",
    Kind.FAILED: "order.failed",
    Kind.CANCELLED: "order.cancelled",
}


@dataclass(frozen=True)
class Deliver:
    """Terminal at FoxReload: claim, send the webhook for `event`, mark, delete."""

    event: str


@dataclass(frozen=True)
class Reschedule:
    """Make the message visible again after `delay` seconds and report an item failure."""

    delay: int
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """Give up: copy the message to the DLQ with the reason attached, delete the original."""

    reason: str
    detail: str


Action = Deliver | Reschedule | DeadLetter


@dataclass(frozen=True)
class Timing:
    attempt: int  # 0-based: ApproximateReceiveCount - 1
    elapsed: float  # seconds since the message was enqueued
    seconds_since_receive: float = 0.0


@dataclass(frozen=True)
class Limits:
    give_up_after: float
    not_found_grace: float
    auth_failure_delay: float


def decide(
    outcome: PollOutcome, timing: Timing, limits: Limits, policy: Policy, rand: float
) -> Action:
    event = EVENT_FOR_KIND.get(outcome.kind)
    if event is not None:  # a terminal order is delivered even at the deadline
        return Deliver(event)
    if timing.elapsed >= limits.give_up_after:
        return DeadLetter(
            "deadline",
            f"not terminal {timing.elapsed:.0f}s after enqueue "
            f"(limit {limits.give_up_after:.0f}s); "
            f"last result {outcome.status or outcome.kind.value}; {timing.attempt + 1} attempts",
        )
    if outcome.kind is Kind.NOT_FOUND and timing.elapsed >= limits.not_found_grace:
        return DeadLetter(
            "not_found",
            f"FoxReload answered 404 for {timing.elapsed:.0f}s "
            f"(grace {limits.not_found_grace:.0f}s); {timing.attempt + 1} attempts",
        )
    hints = ScheduleInput(
        attempt=timing.attempt,
        elapsed=timing.elapsed,
        retry_after=outcome.retry_after,
        status=outcome.status,
    )
    delay = policy.delay(hints, rand)
    if outcome.kind is Kind.AUTH_FAILED:
        delay = max(delay, limits.auth_failure_delay * (1.0 + 0.2 * rand))
    delay = clip_to_deadline(delay, timing.elapsed, limits.give_up_after)
    return Reschedule(visibility_timeout(delay, timing.seconds_since_receive), outcome.kind.value)


def reschedule_after_delivery_attempt(
    timing: Timing, limits: Limits, policy: Policy, rand: float, retry_after: float | None, why: str
) -> Reschedule:
    """The webhook said 'later' (408/429/5xx/timeout) or another worker holds the lease."""
    hints = ScheduleInput(attempt=timing.attempt, elapsed=timing.elapsed, retry_after=retry_after)
    delay = policy.delay(hints, rand)
    if timing.elapsed < limits.give_up_after:  # come back by the deadline, then give up
        delay = clip_to_deadline(delay, timing.elapsed, limits.give_up_after)
    return Reschedule(visibility_timeout(delay, timing.seconds_since_receive), why)
