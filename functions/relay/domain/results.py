"""What one delivery and one order message come to: the relay's result vocabulary.

`DeliveryOutcome` is what `Delivery.deliver` did with one terminal order; the per-order poller,
the sweeper and the bench's model of both branch on it. `ProcessResult` is what
`OrderRelay.process` returns for a message it is finished with: the webhook `Event` it delivered
(relay.domain.events, so no second list of events exists), or why it sent none (`Settled`). A
message that must come back later raises `Rescheduled` instead of returning.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import TypeAlias

from relay.domain.events import Event


class DeliveryOutcome(Enum):
    DELIVERED = "delivered"  # the storefront accepted it and we recorded it
    ALREADY_DONE = "already_done"  # someone else delivered it (or recorded it first)
    BUSY = "busy"  # another worker holds a live lease
    RETRY_LATER = "retry_later"  # the storefront said later (408/429/5xx/no answer)
    REJECTED = "rejected"  # the storefront refused it for good (other 4xx)
    NOT_OURS = "not_ours"  # the relay never accepted this order: nothing is sent
    NO_TIME = "no_time"  # too little of the caller's time left to send: not even claimed
    PARKED = "parked"  # the storefront breaker is open: wait `retry_after`, no claim, no send


class Settled(StrEnum):
    """A message finished without this worker's webhook being accepted."""

    ALREADY_DONE = "already_done"  # the order's outcome was recorded (by this or another worker)
    DEAD_LETTERED = "dead_lettered"  # copied to the DLQ with the why


# What `OrderRelay.process` returns: the event it delivered, or why it delivered none.
ProcessResult: TypeAlias = Event | Settled
