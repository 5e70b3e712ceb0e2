"""Fault injection: named profiles of how often the API misbehaves, and the per-request draw."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any, Final


class Fault(Enum):
    NONE = "none"
    ERROR_5XX = "error_5xx"
    TIMEOUT = "timeout"
    MALFORMED = "malformed"
    SLOW = "slow"


@dataclass(frozen=True)
class FaultProfile:
    """Per-request probabilities; delays are *real* seconds (clients time out in real time).

    ``endpoints`` limits the faults to some endpoint names (see the docs); empty means every
    public API endpoint. The sandbox control API under /_sim/ is never faulted.
    """

    name: str = "none"
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    malformed_rate: float = 0.0
    slow_rate: float = 0.0
    slow_min_seconds: float = 0.5
    slow_max_seconds: float = 2.0
    endpoints: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.timeout_rate, self.malformed_rate, self.slow_rate)
        if any(r < 0 or r > 1 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be in [0, 1] and sum to at most 1")
        if not self.error_statuses:
            raise ValueError("error_statuses must not be empty")

    def applies_to(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[_camel(f.name)] = (
                sorted(value)
                if isinstance(value, frozenset)
                else (list(value) if isinstance(value, tuple) else value)
            )
        return out

    def updated(self, changes: dict[str, Any]) -> FaultProfile:
        """A copy with camelCase or snake_case fields from a JSON object changed."""
        known = {f.name: f.name for f in fields(self)}
        known |= {_camel(f.name): f.name for f in fields(self)}
        kwargs: dict[str, Any] = {}
        for key, raw in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault setting {key!r}")
            name = known[key]
            value: Any
            if name == "endpoints":
                value = frozenset(str(v) for v in raw)
            elif name == "error_statuses":
                value = tuple(int(v) for v in raw)
            elif name == "name":
                value = str(raw)
            else:
                value = float(raw)
            kwargs[name] = value
        return replace(self, **kwargs)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


PROFILES: Final = {
    "none": FaultProfile("none"),
    "default": FaultProfile("default"),
    "flaky": FaultProfile(
        "flaky", error_rate=0.05, malformed_rate=0.02, timeout_rate=0.01, slow_rate=0.05
    ),
    "slow": FaultProfile("slow", slow_rate=0.3, slow_min_seconds=1.0, slow_max_seconds=4.0),
    "timeouts": FaultProfile("timeouts", timeout_rate=0.1),
    "malformed": FaultProfile("malformed", malformed_rate=0.1),
    "outage": FaultProfile("outage", error_rate=1.0, error_statuses=(503,)),
    "chaos": FaultProfile(
        "chaos", error_rate=0.15, malformed_rate=0.05, timeout_rate=0.03, slow_rate=0.1
    ),
}


def profile(name: str) -> FaultProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}") from None


@dataclass(frozen=True)
class FaultDecision:
    fault: Fault
    status: int = 0  # for ERROR_5XX
    delay: float = 0.0  # real seconds, for SLOW and TIMEOUT


def draw(prof: FaultProfile, endpoint: str, rng: random.Random) -> FaultDecision:
    """Decide, for one request, which fault (if any) to inject."""
    if not prof.applies_to(endpoint):
        return FaultDecision(Fault.NONE)
    pick = rng.random()
    if pick < prof.error_rate:
        return FaultDecision(Fault.ERROR_5XX, status=rng.choice(prof.error_statuses))
    pick -= prof.error_rate
    if pick < prof.timeout_rate:
        return FaultDecision(Fault.TIMEOUT, delay=prof.hang_seconds)
    pick -= prof.timeout_rate
    if pick < prof.malformed_rate:
        return FaultDecision(Fault.MALFORMED)
    pick -= prof.malformed_rate
    if pick < prof.slow_rate:
        return FaultDecision(
            Fault.SLOW, delay=rng.uniform(prof.slow_min_seconds, prof.slow_max_seconds)
        )
    return FaultDecision(Fault.NONE)
