"""Secrets Manager values (the FoxReload API key, the webhook secret), cached per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# After a failed refresh, the stale value is used for this long before the next try, so an
# outage of Secrets Manager costs one failed call per half minute, not one per record.
STALE_RETRY_SECONDS = 30.0


@dataclass
class _Entry:
    """One cached secret value and when it is due for a refresh."""

    value: str
    fresh_until: float  # monotonic time; a refresh is due after it


class SecretCache:
    """Reads a secret once and keeps it for `ttl_seconds`; `invalidate` forces a re-read.

    Stale on error: when a refresh fails and a value was read before, that value is used (and
    `on_stale` is called, for a metric) rather than failing every record while Secrets Manager
    is unavailable; only a secret never read at all fails. The value is held in memory only:
    never logged, never written anywhere.
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        on_stale: Callable[[str], None] | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._ttl = ttl_seconds
        self._clock = clock
        self._on_stale = on_stale
        self._values: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> str:
        with self._lock:
            cached = self._values.get(secret_id)
            now = self._clock()
            if cached is not None and now < cached.fresh_until:
                return cached.value
            try:
                value = self._read(secret_id)
            except Exception:
                if cached is None:
                    raise
                cached.fresh_until = now + STALE_RETRY_SECONDS
                if self._on_stale is not None:
                    self._on_stale(secret_id)
                return cached.value
            self._values[secret_id] = _Entry(value, now + self._ttl)
            return value

    def invalidate(self, secret_id: str) -> None:
        """The next `get` re-reads the secret (the last value stays as the fallback)."""
        with self._lock:
            cached = self._values.get(secret_id)
            if cached is not None:
                cached.fresh_until = self._clock()

    def _read(self, secret_id: str) -> str:
        if self._client is None:
            self._client = self._client_factory()
        response = self._client.get_secret_value(SecretId=secret_id)
        return str(response["SecretString"])
