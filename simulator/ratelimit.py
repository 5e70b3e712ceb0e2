"""Per-API-key rate limiting: a sliding-window log, pure (the caller passes the time)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float  # simulated seconds until a request would be allowed; 0 when allowed


class SlidingWindowLimiter:
    """At most `limit` requests in any `window` seconds, per key.

    Every accepted request's time is kept (at most `limit` per key); a request is refused while
    the oldest of them is younger than the window, and told to come back when it ages out.
    Refused requests are not recorded, so a client that honours Retry-After gets in.
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._limits: dict[str, int] = {}
        self._lock = threading.Lock()

    def set_limit(self, key: str, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        with self._lock:
            self._limits[key] = limit

    def limits(self) -> dict[str, int]:
        """Per-key overrides of the default limit."""
        with self._lock:
            return dict(self._limits)

    def limit_for(self, key: str) -> int:
        return self._limits.get(key, self.limit)

    def check(self, key: str, now: float) -> Decision:
        with self._lock:
            limit = self.limit_for(key)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                return Decision(True, limit - len(hits), 0.0)
            oldest = hits[len(hits) - limit]
            return Decision(False, 0, max(oldest + self.window - now, 0.0))

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
