"""In-process moto answers each request on the caller's thread and applies an UpdateItem one
action at a time, so a concurrent GetItem can see a half-written item. Real AWS never shows
that: every request is atomic. Tests whose code under test calls AWS from several threads
(`asyncio.to_thread` in one batch) serialize moto's request handling to get the same guarantee."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

_LOCK = threading.RLock()
_unlocked = BotocoreStubber.process_request


def _atomic_process_request(self: BotocoreStubber, request: Any) -> Any:
    with _LOCK:
        return _unlocked(self, request)


def make_moto_requests_atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BotocoreStubber, "process_request", _atomic_process_request)
