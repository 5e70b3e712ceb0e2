"""The storefront circuit breaker's I/O: read the shared state, take the probe slot, record
each delivery's answer. Decisions are relay.domain.storefront_breaker's.

On the happy path this costs one consistent GetItem per delivery, cached for a second per
process, and no write: only failures, probes and the close that follows a failure write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from relay.adapters.coordination import CoordinationTable, StoredBreaker
from relay.domain.storefront_breaker import (
    Admission,
    BreakerConfig,
    BreakerState,
    Verdict,
    admit,
    after_delivery,
)

_CACHE_SECONDS = 1.0
_WRITE_ATTEMPTS = 3


class StorefrontGuard:
    def __init__(
        self,
        coordination: CoordinationTable,
        clock: Callable[[], float],
        config: BreakerConfig | None = None,
    ) -> None:
        self._coordination = coordination
        self._clock = clock
        self.config = config or BreakerConfig()
        self._cached: tuple[StoredBreaker, float] | None = None
        self._lock = threading.Lock()

    def state(self) -> BreakerState:
        """The breaker as last read (at most a second old): for a look that decides nothing
        by itself, such as whether to spend a request on an order that would be parked."""
        return self._read(fresh=False).state

    def admit(self) -> Admission:
        """SEND, PROBE (this caller took the probe slot) or PARK."""
        stored = self._read(fresh=False)
        now = self._clock()
        admission = admit(stored.state, self.config, now)
        if admission.verdict is not Verdict.PROBE:
            return admission
        stored = self._read(fresh=True)  # the slot is taken by a conditional write
        admission = admit(stored.state, self.config, now)
        if admission.verdict is Verdict.PROBE and not self._write(admission.state, stored):
            return Admission(Verdict.PARK, stored.state, wait=self.config.probe_interval)
        return admission

    def record(self, accepted: bool) -> BreakerState:
        """The storefront's answer to one delivery; returns the state after it."""
        for _ in range(_WRITE_ATTEMPTS):
            stored = self._read(fresh=not accepted)
            state = after_delivery(stored.state, self.config, accepted, self._clock())
            if state == stored.state:
                return state  # nothing changed (a success while closed): no write
            if self._write(state, stored):
                return state
            self._cached = None
        return stored.state

    def _read(self, fresh: bool) -> StoredBreaker:
        with self._lock:
            now = self._clock()
            cached = self._cached
            if not fresh and cached is not None and 0 <= now - cached[1] < _CACHE_SECONDS:
                return cached[0]
        stored = self._coordination.read_breaker()
        with self._lock:
            self._cached = (stored, self._clock())
        return stored

    def _write(self, state: BreakerState, stored: StoredBreaker) -> bool:
        written = self._coordination.write_breaker(state, stored.version)
        with self._lock:
            self._cached = (
                (StoredBreaker(state, stored.version + 1), self._clock()) if written else None
            )
        return written
