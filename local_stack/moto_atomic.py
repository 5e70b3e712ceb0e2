"""In-process moto (`mock_aws`) answers each request on the caller's thread and applies an
UpdateItem one action at a time, and its backends iterate dicts other threads change: a
concurrent GetItem can see a half-written item, a concurrent Query can raise "dictionary changed
size during iteration". Real AWS never shows that: every request is atomic. Code that calls AWS
from several threads (a batch's `asyncio.to_thread` calls, the monitors' per-hour queries) runs
against in-process moto with its request handling serialized here, to get the same guarantee.
(moto in server mode is a separate process; see local_stack/moto_server.py for its SQS fix.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber

_LOCK = threading.RLock()
_unlocked = BotocoreStubber.process_request


def _atomic_process_request(self: BotocoreStubber, request: Any) -> Any:
    with _LOCK:
        return _unlocked(self, request)


@contextmanager
def atomic_moto_requests() -> Iterator[None]:
    """While inside, every in-process moto request is handled whole before the next."""
    with mock.patch.object(BotocoreStubber, "process_request", _atomic_process_request):
        yield


def make_moto_requests_atomic(monkeypatch: Any) -> None:
    """The same for a pytest test, undone at its end."""
    monkeypatch.setattr(BotocoreStubber, "process_request", _atomic_process_request)
