"""Request accounting for /_sim/stats: per endpoint, per status, per order."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.responses: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self.faults: Counter[str] = Counter()
            self.order_gets: Counter[str] = Counter()
            self.by_key: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self.rate_limited = 0
            self.unauthorized = 0
            self.scripted = 0

    def request(self, endpoint: str, order_id: str | None = None) -> None:
        with self._lock:
            self.requests[endpoint] += 1
            if endpoint == "get_order" and order_id:
                self.order_gets[order_id] += 1

    def response(self, endpoint: str, status: int | str) -> None:
        with self._lock:
            self.responses[endpoint][str(status)] += 1
            if status == 429:
                self.rate_limited += 1
            elif status == 401:
                self.unauthorized += 1

    def authenticated(self, key: str, endpoint: str) -> None:
        with self._lock:
            self.by_key[key][endpoint] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def scripted_response(self) -> None:
        with self._lock:
            self.scripted += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            gets = list(self.order_gets.values())
            return {
                "requests": dict(self.requests),
                "totalRequests": sum(self.requests.values()),
                "responses": {k: dict(v) for k, v in self.responses.items()},
                "rateLimited": self.rate_limited,
                "unauthorized": self.unauthorized,
                "faults": dict(self.faults),
                "requestsByKey": {k: dict(v) for k, v in self.by_key.items()},
                "scriptedResponses": self.scripted,
                "orderGets": dict(self.order_gets),
                "orderGetsSummary": {
                    "orders": len(gets),
                    "total": sum(gets),
                    "max": max(gets, default=0),
                },
            }
