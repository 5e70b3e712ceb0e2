"""Poll outcome -> what the relay does next (the README's outcome table), as a pure function.

Only FoxReload ends an order for `deadline`: a pending order seen at or after the deadline. An
order the relay cannot see (API errors, 429s, 401s) is retried, paced, until the supplier
silence limit (the deadline plus the delivery window); see relay.domain.retry_pacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from relay.domain.events import Event, for_kind
from relay.domain.poll_outcome import Kind, PollOutcome
from relay.domain.retry_pacing import (
    delivery_window_closed,
    paced,
    supplier_silence_limit,
    webhook_retry_delay,
)
from relay.domain.schedule import Policy, ScheduleInput, clip_to_deadline, visibility_timeout

# However long a bucket or a lease says to wait, a message is looked at again within this.
MAX_WAIT_SECONDS: Final = 900.0


@dataclass(frozen=True)
class Deliver:
    """Terminal at FoxReload: claim, send the webhook for `event`, mark, delete."""

    event: Event


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
    """Where a message is in its life: its attempt number and the seconds since enqueue."""

    attempt: int  # 0-based: ApproximateReceiveCount - 1
    elapsed: float  # seconds since the message was enqueued
    seconds_since_receive: float = 0.0


@dataclass(frozen=True)
class Limits:
    """The deadlines the outcome table applies to every order."""

    give_up_after: float
    not_found_grace: float
    auth_failure_delay: float
    delivery_window: float = 86400.0  # webhook retries, from the first terminal sight


def decide(
    outcome: PollOutcome, timing: Timing, limits: Limits, policy: Policy, rand: float
) -> Action:
    terminal = for_kind(outcome.kind)
    if terminal is not None:  # a terminal order is delivered even at the deadline
        return Deliver(terminal.event)
    past_deadline = timing.elapsed >= limits.give_up_after
    if past_deadline and outcome.kind is Kind.PENDING:
        return DeadLetter(
            "deadline",
            f"FoxReload still says {outcome.status} {timing.elapsed:.0f}s after enqueue "
            f"(limit {limits.give_up_after:.0f}s); {timing.attempt + 1} attempts",
        )
    if timing.elapsed >= supplier_silence_limit(limits.give_up_after, limits.delivery_window):
        return DeadLetter(
            "supplier_unavailable",
            f"FoxReload gave no usable answer about this order for {timing.elapsed:.0f}s "
            f"after enqueue; last result {outcome.status or outcome.kind.value}; "
            f"{timing.attempt + 1} attempts",
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
    if past_deadline:  # FoxReload has not been seen since the deadline: keep asking, paced
        delay = paced(delay, timing.elapsed)
    else:
        delay = clip_to_deadline(delay, timing.elapsed, limits.give_up_after)
    return Reschedule(visibility_timeout(delay, timing.seconds_since_receive), outcome.kind.value)


def after_webhook_retry(
    timing: Timing, limits: Limits, since_terminal: float, retry_after: float | None, rand: float
) -> Reschedule | DeadLetter:
    """The storefront said 'later' (408/429/5xx/401/403/no answer): retry with capped
    exponential backoff until the delivery window, counted from the first terminal sight,
    closes. The supplier deadline no longer applies: the order is done at FoxReload."""
    if delivery_window_closed(since_terminal, limits.delivery_window):
        return DeadLetter(
            "webhook_unavailable",
            f"the storefront did not accept the webhook within the delivery window "
            f"({limits.delivery_window:.0f}s since the order was first seen terminal); "
            f"{timing.attempt + 1} attempts",
        )
    delay = paced(webhook_retry_delay(since_terminal, retry_after, rand), since_terminal)
    return Reschedule(visibility_timeout(delay, timing.seconds_since_receive), "webhook_retry")


def after_park(
    timing: Timing, limits: Limits, since_terminal: float, wait: float, rand: float = 0.0
) -> Reschedule | DeadLetter:
    """The storefront breaker is open and another delivery holds the probe: wait for the next
    probe, but only within the delivery window. Parked orders must end like retried ones: one
    parked past its window would otherwise come back until the queue's retention deleted it,
    lost without a dead letter (only a probe's own failure checked the window)."""
    if delivery_window_closed(since_terminal, limits.delivery_window):
        return DeadLetter(
            "webhook_unavailable",
            f"the storefront was unavailable (circuit breaker open) for the whole delivery "
            f"window ({limits.delivery_window:.0f}s since the order was first seen terminal); "
            f"{timing.attempt + 1} attempts",
        )
    return after_wait(timing, wait, "parked", rand)


def after_wait(timing: Timing, wait: float, why: str, rand: float = 0.0) -> Reschedule:
    """Come back after `wait` (a lease another worker holds, a request budget to refill, a
    parked delivery), paced by the message's age so long waits are received rarely.

    The age floor is stretched by up to half (`rand` in [0, 1]): thousands of messages of one
    age (a redrive, a backlog after an outage) would otherwise come back in step, in waves
    that leave the request budget idle between them. Only ever longer than the floor, so the
    receive bound (retry_pacing.receive_bound) still holds."""
    spread = 1.0 + 0.5 * min(max(rand, 0.0), 1.0)
    delay = max(
        paced(min(wait, MAX_WAIT_SECONDS), timing.elapsed), paced(0.0, timing.elapsed) * spread
    )
    return Reschedule(visibility_timeout(delay, timing.seconds_since_receive), why)
