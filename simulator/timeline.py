"""The order state machine and its timeline, as pure functions.

An order's life is a list of transitions ``(status, at)`` in simulated Unix seconds. Its status
at any instant is read lazily from that list: the last transition whose time has come. The list
may only ever be changed in its future part, so what a client has seen never changes: statuses
move strictly forward (active -> paid -> processing -> completed | failed | cancelled).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

ACTIVE: Final = "active"
PAID: Final = "paid"
PROCESSING: Final = "processing"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"

TERMINAL: Final = frozenset({COMPLETED, FAILED, CANCELLED})
STATUSES: Final = (ACTIVE, PAID, PROCESSING, COMPLETED, FAILED, CANCELLED)
_RANK: Final = {ACTIVE: 0, PAID: 1, PROCESSING: 2, COMPLETED: 3, FAILED: 3, CANCELLED: 3}

CANCEL_REASONS: Final = ("payment_failure", "payment_expiration", "user_request")


class TimelineError(ValueError):
    """A timeline that would move an order backward, or past a terminal status."""


@dataclass(frozen=True)
class Transition:
    status: str
    at: float
    cancel_reason: str | None = None


def rank(status: str) -> int:
    try:
        return _RANK[status]
    except KeyError:
        raise TimelineError(f"unknown status {status!r}") from None


def validate(timeline: Sequence[Transition]) -> None:
    """Raise TimelineError unless times never decrease and statuses only move forward."""
    if not timeline:
        raise TimelineError("a timeline needs at least one transition")
    for before, after in itertools.pairwise(timeline):
        if after.at < before.at:
            raise TimelineError("transition times must not decrease")
        if before.status in TERMINAL:
            raise TimelineError(f"nothing may follow the terminal status {before.status!r}")
        if rank(after.status) < rank(before.status):
            raise TimelineError(f"{before.status!r} cannot go back to {after.status!r}")
    for t in timeline:
        rank(t.status)
        if t.cancel_reason is not None and t.status != CANCELLED:
            raise TimelineError("only a cancelled transition has a cancel reason")


def current(timeline: Sequence[Transition], now: float) -> Transition:
    """The transition in force at `now` (the first one if `now` is before it)."""
    found = timeline[0]
    for t in timeline:
        if t.at <= now:
            found = t
        else:
            break
    return found


def replace_future(
    timeline: Sequence[Transition], now: float, future: Sequence[Transition]
) -> list[Transition]:
    """Keep what has happened by `now`, swap in `future`; refuse anything that rewrites history."""
    past = [t for t in timeline if t.at <= now]
    if not past:
        past = [timeline[0]]
    if any(t.at < now for t in future):
        raise TimelineError("the future cannot start in the past")
    merged = past + list(future)
    validate(merged)
    return merged


@dataclass(frozen=True)
class TimingModel:
    """How long an order spends in each status after payment, and how it ends.

    Durations are simulated seconds. Processing time is a mixture of two lognormals: a main body
    (most orders, median ``processing_median``) clamped to [``processing_min``, ``processing_max``]
    and a long tail (share ``tail_share``, median ``tail_median``) clamped to [min, ``tail_max``].
    """

    paid_min: float = 0.3
    paid_max: float = 4.8
    processing_median: float = 8.0
    processing_sigma: float = 0.7
    processing_min: float = 1.0
    processing_max: float = 60.0
    tail_share: float = 0.08
    tail_median: float = 45.0
    tail_sigma: float = 0.8
    tail_max: float = 600.0
    failed_share: float = 0.01
    cancelled_share: float = 0.01
    stuck_share: float = 0.005
    partial_item_error_share: float = 0.005
    cancel_reasons: tuple[tuple[str, float], ...] = field(
        default=(("payment_failure", 0.6), ("user_request", 0.3), ("", 0.1))
    )
    payment_window: float = 900.0

    def __post_init__(self) -> None:
        shares = (self.failed_share, self.cancelled_share, self.stuck_share)
        if any(s < 0 for s in shares) or sum(shares) > 1:
            raise ValueError("outcome shares must be >= 0 and sum to at most 1")
        if not 0 <= self.paid_min <= self.paid_max:
            raise ValueError("need 0 <= paid_min <= paid_max")
        if not 0 < self.processing_min <= self.processing_max <= self.tail_max:
            raise ValueError("need 0 < processing_min <= processing_max <= tail_max")

    @classmethod
    def fast(cls) -> TimingModel:
        """Everything completes within a few simulated seconds; no failures (for tests)."""
        return cls(
            paid_min=0.1,
            paid_max=0.5,
            processing_median=1.5,
            processing_sigma=0.3,
            processing_min=0.5,
            processing_max=3.0,
            tail_share=0.0,
            tail_max=3.0,
            failed_share=0.0,
            cancelled_share=0.0,
            stuck_share=0.0,
            partial_item_error_share=0.0,
        )


@dataclass(frozen=True)
class Outcome:
    """What the timing model decided for one paid order."""

    transitions: tuple[Transition, ...]
    failed_items: frozenset[int] = frozenset()  # indexes of items that carry an error


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def processing_seconds(model: TimingModel, rng: random.Random) -> float:
    if rng.random() < model.tail_share:
        raw, cap = _lognormal(rng, model.tail_median, model.tail_sigma), model.tail_max
    else:
        raw, cap = (
            _lognormal(rng, model.processing_median, model.processing_sigma),
            (model.processing_max),
        )
    return min(max(raw, model.processing_min), cap)


def _cancel_reason(model: TimingModel, rng: random.Random) -> str | None:
    total = sum(w for _, w in model.cancel_reasons)
    pick = rng.random() * total
    for reason, weight in model.cancel_reasons:
        pick -= weight
        if pick < 0:
            return reason or None
    return None


def plan_after_payment(
    model: TimingModel, paid_at: float, item_count: int, rng: random.Random
) -> Outcome:
    """Sample the rest of an order's life from the moment it is paid."""
    processing_at = paid_at + rng.uniform(model.paid_min, model.paid_max)
    done_at = processing_at + processing_seconds(model, rng)
    paid = Transition(PAID, paid_at)
    processing = Transition(PROCESSING, processing_at)
    draw = rng.random()
    if draw < model.stuck_share:
        return Outcome((paid, processing))
    draw -= model.stuck_share
    if draw < model.cancelled_share:
        reason = _cancel_reason(model, rng)
        if reason == "payment_failure":
            # the payment bounces before fulfilment starts
            return Outcome((paid, Transition(CANCELLED, processing_at, reason)))
        return Outcome((paid, processing, Transition(CANCELLED, done_at, reason)))
    draw -= model.cancelled_share
    if draw < model.failed_share:
        return Outcome(
            (paid, processing, Transition(FAILED, done_at)), frozenset(range(item_count))
        )
    failed_items: frozenset[int] = frozenset()
    if item_count > 1 and rng.random() < model.partial_item_error_share:
        failed_items = frozenset({rng.randrange(item_count)})
    return Outcome((paid, processing, Transition(COMPLETED, done_at)), failed_items)


def initial_timeline(created_at: float, payment_window: float) -> list[Transition]:
    """A new order is active until paid; unpaid past its window it is cancelled (expiration)."""
    return [
        Transition(ACTIVE, created_at),
        Transition(CANCELLED, created_at + payment_window, "payment_expiration"),
    ]


def scripted_timeline(
    created_at: float, steps: Sequence[tuple[str, float, str | None]]
) -> list[Transition]:
    """A test's script: (status, seconds after creation, cancel reason). Starts active."""
    timeline = [Transition(ACTIVE, created_at)]
    for status, offset, reason in steps:
        if offset < 0:
            raise TimelineError("script offsets are seconds after creation, >= 0")
        if status == ACTIVE and offset == 0:
            continue
        timeline.append(Transition(status, created_at + offset, reason))
    validate(timeline)
    return timeline
