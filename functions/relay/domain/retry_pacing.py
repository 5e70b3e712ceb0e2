"""How long a message waits when the relay, not FoxReload, is the reason it is not done yet:
no request budget, a storefront that answers "later", a supplier that does not answer at all.

Two clocks govern an order. Until FoxReload says it is terminal, the supplier deadline applies
(`GIVE_UP_AFTER_SECONDS`, from the message's enqueue), and only FoxReload itself, seen
non-terminal at or after it, can end the order for `deadline`. Once the relay has seen it
terminal, the storefront delivery window applies (`DELIVERY_WINDOW_SECONDS`, from that first
sight): webhook retries back off exponentially, with jitter, up to a cap, until it closes.

Every such wait is also paced by age: at least `PACE_FRACTION` of the message's age (up to
`PACE_CAP_SECONDS`), so a message retried for a day is received a bounded number of times
(logarithmic in its age, then linear at the cap) and SQS's `maxReceiveCount`, a crash-loop
safety net, never decides before the relay does. `receive_bound` is that count, checked at
synth against the queue's `maxReceiveCount`.
"""

from __future__ import annotations

import math
from typing import Final

PACE_FRACTION: Final = 0.05
PACE_CAP_SECONDS: Final = 600.0
WEBHOOK_RETRY_BASE_SECONDS: Final = 10.0
WEBHOOK_RETRY_CAP_SECONDS: Final = 300.0
SQS_MAX_RECEIVE_COUNT: Final = 1000


def paced(delay: float, age: float) -> float:
    """`delay`, but at least PACE_FRACTION of `age` (capped at PACE_CAP_SECONDS)."""
    return max(delay, min(PACE_FRACTION * max(0.0, age), PACE_CAP_SECONDS))


def webhook_retry_delay(
    since_terminal: float,
    retry_after: float | None,
    rand: float,
    cap: float = WEBHOOK_RETRY_CAP_SECONDS,
) -> float:
    """Capped exponential backoff with jitter for a webhook the storefront did not take.

    The wait is about as long as the order has already waited since it was first seen
    terminal (so waits double: 10, 20, 40 ... s), capped at `cap`, with +-25 % jitter so a
    backlog does not come back in step; a Retry-After is honoured up to the cap.
    """
    nominal = min(cap, max(WEBHOOK_RETRY_BASE_SECONDS, since_terminal))
    jittered = nominal * (0.75 + 0.5 * min(max(rand, 0.0), 1.0))
    if retry_after is not None:
        jittered = max(jittered, min(retry_after, cap))
    return jittered


def delivery_window_closed(since_terminal: float, delivery_window: float) -> bool:
    return since_terminal >= delivery_window


def delivery_window_age(now: float, terminal_seen_at: float, enqueued_at: float) -> float:
    """How long the storefront delivery window has run for this message: from the first
    terminal sight, or from the message's enqueue when that is later. A message redriven from
    the DLQ is enqueued after the order was first seen terminal, so it gets a fresh window, as
    it gets a fresh supplier deadline; otherwise a redriven `webhook_unavailable` order would
    be dead-lettered again by its first failed or parked delivery."""
    return now - max(terminal_seen_at, enqueued_at)


def supplier_silence_limit(give_up_after: float, delivery_window: float) -> float:
    """How long after enqueue an order FoxReload never answered about (errors, 429s, 401s) is
    retried before it is dead-lettered as `supplier_unavailable`: the deadline plus the
    delivery window, the longest a message is meant to live."""
    return give_up_after + delivery_window


def receive_bound(give_up_after: float, delivery_window: float, min_poll_delay: float) -> int:
    """The most receives one message can see before the relay ends it itself.

    Polls before the deadline: at most give_up_after / min_poll_delay. Paced waits: while the
    pace floor grows (age < PACE_CAP / PACE_FRACTION) each wait is >= PACE_FRACTION x age, so
    going from age 1 s to age A takes at most ln(A) / ln(1 + PACE_FRACTION) receives; past
    that, one per PACE_CAP_SECONDS.
    """
    lifetime = give_up_after + delivery_window
    knee = PACE_CAP_SECONDS / PACE_FRACTION
    growing = math.log(max(1.0, min(lifetime, knee))) / math.log1p(PACE_FRACTION)
    flat = max(0.0, lifetime - knee) / PACE_CAP_SECONDS
    polls = give_up_after / max(min_poll_delay, 1.0)
    return math.ceil(polls + growing + flat) + 1
