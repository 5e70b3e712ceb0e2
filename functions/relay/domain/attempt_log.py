"""The attempt log: the last few webhook attempts of one order, kept in its ledger item.

Each entry says when, who (poller, sweeper or operator), what the storefront answered (the HTTP
status, or the kind of transport failure when there was no answer) and how long it took. Never a
code, a body, a header or a secret: only these few fields exist. The log is bounded: the newest
`MAX_ATTEMPTS_KEPT` entries are kept, each numbered from the order's first attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

MAX_ATTEMPTS_KEPT: Final = 10


class Actor:
    """Who made an attempt."""

    POLLER: Final = "poller"
    SWEEPER: Final = "sweeper"
    OPERATOR: Final = "operator"

    ALL: Final = (POLLER, SWEEPER, OPERATOR)


class TransportFailureKind:
    """What went wrong when the storefront gave no HTTP answer."""

    TIMEOUT: Final = "timeout"
    CONNECTION: Final = "connection"

    ALL: Final = (TIMEOUT, CONNECTION)


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt of an order to the storefront, as its ledger item logs it."""

    number: int  # 1 for the order's first attempt, counted across every actor
    at: float  # epoch seconds: when the attempt started
    actor: str  # Actor.*
    status_code: int | None  # the storefront's HTTP status; None: no answer
    failure: str | None  # TransportFailureKind.* when there was no answer
    latency_ms: int

    @property
    def answer(self) -> str:
        """`HTTP 200`, or the transport failure kind."""
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.failure or "no answer"


def next_number(log: Sequence[Attempt]) -> int:
    return max((a.number for a in log), default=0) + 1


def new_attempt(
    log: Sequence[Attempt],
    *,
    at: float,
    actor: str,
    status_code: int | None,
    failure: str | None,
    latency_seconds: float,
) -> Attempt:
    """The next attempt after `log` (numbered after its newest entry)."""
    if actor not in Actor.ALL:
        raise ValueError(f"unknown actor {actor!r}")
    if status_code is None and failure not in TransportFailureKind.ALL:
        failure = TransportFailureKind.CONNECTION
    return Attempt(
        number=next_number(log),
        at=at,
        actor=actor,
        status_code=status_code,
        failure=None if status_code is not None else failure,
        latency_ms=max(0, round(latency_seconds * 1000)),
    )


def appended(
    log: Sequence[Attempt], attempt: Attempt, limit: int = MAX_ATTEMPTS_KEPT
) -> tuple[Attempt, ...]:
    """`log` with `attempt` added, oldest first, keeping only the newest `limit` entries."""
    ordered = sorted([*log, attempt], key=lambda a: (a.number, a.at))
    return tuple(ordered[-limit:]) if limit > 0 else ()
