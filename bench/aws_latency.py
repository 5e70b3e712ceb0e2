"""Realistic AWS latency in front of a local emulator: a botocore `before-send` hook.

Emulators answer in about a millisecond, so a handler measured against them looks as if AWS
calls were free. `InjectedLatency.install(session)` makes every request sent by clients created
from `session` afterwards first sleep a delay drawn uniformly from its service's range (seeded,
so two runs draw the same sequence). The sleep runs on the caller's thread, like the network
wait it stands for: calls made from different threads wait concurrently. It also records how
long the emulator then took to answer (`answered`), which comes on top of the injected delay.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

# Typical in-region latency of one call from Lambda (milliseconds, as seconds).
AWS_LATENCY: Mapping[str, tuple[float, float]] = {
    "dynamodb": (0.005, 0.010),
    "sqs": (0.010, 0.020),
    "secrets-manager": (0.010, 0.020),
}


class InjectedLatency:
    def __init__(
        self,
        latency: Mapping[str, tuple[float, float]] = AWS_LATENCY,
        seed: int = 7,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.latency = dict(latency)
        self._rand = random.Random(seed)
        self._lock = threading.Lock()
        self._sleep = sleep
        self.calls: Counter[str] = Counter()
        self.slept: Counter[str] = Counter()
        self.answered: list[float] = []  # seconds from the end of each delay to the answer
        self._sent = threading.local()

    def install(self, session: Any) -> None:
        """`session`: a boto3 or botocore session; clients made from it later are delayed."""
        events = getattr(session, "events", None) or session.get_component("event_emitter")
        for service in self.latency:
            # Event names are `before-send.<service id>.<operation>`; the prefix matches all.
            events.register(f"before-send.{service}", self._hook(service))
            events.register(f"before-parse.{service}", self._answer)

    def delay(self, service: str) -> float:
        low, high = self.latency[service]
        with self._lock:
            seconds = self._rand.uniform(low, high)
            self.calls[service] += 1
            self.slept[service] += seconds
        return seconds

    def _hook(self, service: str) -> Callable[..., None]:
        def before_send(**_kwargs: Any) -> None:
            self._sleep(self.delay(service))
            self._sent.at = time.perf_counter()
            # Returning None lets botocore send the request as usual.

        return before_send

    def _answer(self, **_kwargs: Any) -> None:
        sent = getattr(self._sent, "at", None)
        if sent is not None:
            self._sent.at = None
            with self._lock:
                self.answered.append(time.perf_counter() - sent)
