"""The secret cache keeps serving the last good value while Secrets Manager fails."""

from __future__ import annotations

import pytest

from relay.adapters.secrets import STALE_RETRY_SECONDS, SecretCache


class FlakySecrets:
    def __init__(self) -> None:
        self.value = "v1"
        self.failing = False
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        self.calls += 1
        if self.failing:
            raise ConnectionError("secrets manager unavailable")
        return {"SecretString": self.value}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_refresh_serves_the_stale_value_and_says_so():
    client, clock, stale = FlakySecrets(), Clock(), []
    cache = SecretCache(lambda: client, ttl_seconds=60, clock=clock, on_stale=stale.append)
    assert cache.get("hook") == "v1"
    client.failing = True
    clock.now = 61
    assert cache.get("hook") == "v1"
    assert stale == ["hook"]
    calls = client.calls
    clock.now = 61 + STALE_RETRY_SECONDS / 2
    assert cache.get("hook") == "v1"
    assert client.calls == calls  # not retried on every record
    client.failing, client.value = False, "v2"
    clock.now = 62 + STALE_RETRY_SECONDS
    assert cache.get("hook") == "v2"


def test_invalidate_rereads_but_keeps_the_old_value_as_the_fallback():
    client, clock = FlakySecrets(), Clock()
    cache = SecretCache(lambda: client, clock=clock)
    cache.get("hook")
    client.value = "v2"
    cache.invalidate("hook")
    assert cache.get("hook") == "v2"
    client.failing = True
    cache.invalidate("hook")
    assert cache.get("hook") == "v2"


def test_a_secret_never_read_still_fails_loudly():
    client = FlakySecrets()
    client.failing = True
    with pytest.raises(ConnectionError):
        SecretCache(lambda: client).get("hook")
