"""The sweeper's "sweep again" message: between two sweeps the sweeper ends its run and sends
itself one of these, delayed by the pause, instead of sleeping through the pause in a billed
run. A chain of ticks is one sweeper: each names the lease owner and the turn it continues, so
a duplicate delivery (SQS is at-least-once) or a tick from a chain that lost its lease finds
the turn taken and ends without sweeping or sending another.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Final

# SQS delays a message by whole seconds, at most 15 minutes.
MAX_DELAY_SECONDS: Final = 900


class MalformedTick(ValueError):
    """A message on the tick queue that no sweeper wrote."""


@dataclass(frozen=True)
class Tick:
    """One message of the sweeper's tick chain: the chain's owner and turn, and what it carries."""

    owner: str  # the lease owner of the chain
    turn: int  # the chain's turn this tick continues (the lease item holds the current one)
    looked_at: float | None = None  # the chain's last in-flight check (kept across runs)
    handover_until: float | None = None  # a hand-over to per-order polling in progress

    def to_body(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "owner": self.owner,
                "turn": self.turn,
                "looked_at": self.looked_at,
                "handover_until": self.handover_until,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_body(cls, body: str) -> Tick:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise MalformedTick("not JSON") from exc
        if not isinstance(data, dict) or data.get("v") != 1:
            raise MalformedTick("not a version-1 tick")
        owner, turn = data.get("owner"), data.get("turn")
        if not isinstance(owner, str) or not owner or len(owner) > 64:
            raise MalformedTick("owner")
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
            raise MalformedTick("turn")
        return cls(
            owner,
            turn,
            _instant(data.get("looked_at"), "looked_at"),
            _instant(data.get("handover_until"), "handover_until"),
        )


def _instant(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedTick(name)
    return float(value)


def delay_seconds(pause: float) -> int:
    """The tick's SQS delay for a pause: whole seconds, rounded up (a sweep never comes early
    for its budget), within what SQS allows."""
    if not math.isfinite(pause) or pause <= 0:
        return 0
    return min(MAX_DELAY_SECONDS, math.ceil(pause - 1e-9))
