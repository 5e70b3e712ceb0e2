"""Secrets Manager values (the FoxReload API key, the webhook secret), cached per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class SecretCache:
    """Reads a secret once and keeps it for `ttl_seconds`; `invalidate` forces a re-read.

    The value is held in memory only: never logged, never written anywhere.
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._ttl = ttl_seconds
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> str:
        with self._lock:
            cached = self._values.get(secret_id)
            if cached is not None and self._clock() - cached[1] < self._ttl:
                return cached[0]
            if self._client is None:
                self._client = self._client_factory()
            response = self._client.get_secret_value(SecretId=secret_id)
            value = str(response["SecretString"])
            self._values[secret_id] = (value, self._clock())
            return value

    def invalidate(self, secret_id: str) -> None:
        with self._lock:
            self._values.pop(secret_id, None)
