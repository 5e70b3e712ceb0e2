"""The storefront circuit breaker, as pure arithmetic over one shared state.

While the storefront fails, sending every terminal order to it only hammers it, and re-reading
every order's codes from FoxReload to do so spends the API key for nothing. After
`failure_threshold` failed deliveries in a row (from any worker) the breaker opens: one delivery
at a time probes the storefront, at most every `probe_interval` seconds, and every other
delivery is parked (its message waits, no API request, no claim). The first accepted probe
closes it and the backlog drains through the normal path, within the key's budget.

State lives in one ledger item (relay.adapters.coordination), written conditionally; this module
decides, the adapter stores, relay.service.storefront_guard sequences the two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

# Parked messages come back spread over up to this long (so a large backlog returns in a
# stream, not at once), growing with how long the storefront has been down.
PARK_SPREAD_CAP_SECONDS: Final = 240.0
PARK_SPREAD_FRACTION: Final = 0.1


@dataclass(frozen=True)
class BreakerConfig:
    """When the storefront breaker opens, and how often it probes while open."""

    failure_threshold: int = 5
    probe_interval: float = 30.0  # at most one probe this often while open (<= 60: a recovery
    # is noticed within a minute whenever parked messages are coming back)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or not 0 < self.probe_interval <= 60:
            raise ValueError("need failure_threshold >= 1 and 0 < probe_interval <= 60")


@dataclass(frozen=True)
class BreakerState:
    """The storefront breaker: consecutive failures; when open, since when and the next probe."""

    failures: int = 0  # consecutive failed deliveries
    open_since: float | None = None  # None: closed
    next_probe_at: float = 0.0  # while open: the next probe may start at this time

    @property
    def is_open(self) -> bool:
        return self.open_since is not None


CLOSED: Final = BreakerState()


class Verdict(Enum):
    SEND = "send"  # closed: deliver as usual
    PROBE = "probe"  # open, and this delivery is the probe (it took the slot)
    PARK = "park"  # open: wait without any request


@dataclass(frozen=True)
class Admission:
    """Whether a delivery may go to the storefront now, and the breaker state to store."""

    verdict: Verdict
    state: BreakerState  # the state to store if the verdict took the probe slot
    wait: float = 0.0  # PARK: seconds until the next probe may start


def admit(state: BreakerState, config: BreakerConfig, now: float) -> Admission:
    if not state.is_open:
        return Admission(Verdict.SEND, state)
    if now >= state.next_probe_at:
        return Admission(Verdict.PROBE, replace(state, next_probe_at=now + config.probe_interval))
    return Admission(Verdict.PARK, state, wait=state.next_probe_at - now)


def after_delivery(
    state: BreakerState, config: BreakerConfig, accepted: bool, now: float
) -> BreakerState:
    """The storefront answered (`accepted`: it took the webhook, or refused this order for
    good, which also means it is up) or failed (5xx, 408/429, 401/403, no answer)."""
    if accepted:
        return CLOSED
    failures = state.failures + 1
    if state.is_open:
        return replace(state, failures=failures, next_probe_at=max(state.next_probe_at, now))
    if failures >= config.failure_threshold:
        return BreakerState(failures, open_since=now, next_probe_at=now + config.probe_interval)
    return replace(state, failures=failures)


def park_delay(state: BreakerState, now: float, rand: float) -> float:
    """How long a parked message waits: until the next probe may start, plus a spread that
    grows with the outage (a long outage's backlog returns as a stream, not a flood)."""
    until_probe = max(0.0, state.next_probe_at - now)
    open_for = 0.0 if state.open_since is None else max(0.0, now - state.open_since)
    spread = min(PARK_SPREAD_CAP_SECONDS, PARK_SPREAD_FRACTION * open_for)
    return until_probe + 1.0 + min(max(rand, 0.0), 1.0) * spread
