"""The bench's injected AWS latency: each service's calls really wait their delay, others don't."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse

from bench.aws_latency import InjectedLatency

SLOW = 0.08


class _Raw:
    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield b"{}"


def _answer_locally(**_kwargs: Any) -> AWSResponse:
    """Stands in for the emulator: an empty JSON answer, without any network."""
    headers = {"content-type": "application/x-amz-json-1.0"}
    return AWSResponse("http://127.0.0.1:9/", 200, headers, _Raw())


def _clients(latency: InjectedLatency) -> tuple[Any, Any]:
    session = botocore.session.Session()
    latency.install(session)
    session.register("before-send", _answer_locally)
    kwargs = {
        "region_name": "eu-west-1",
        "endpoint_url": "http://127.0.0.1:9",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return session.create_client("dynamodb", **kwargs), session.create_client("sqs", **kwargs)


def _elapsed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_each_service_waits_its_own_delay() -> None:
    latency = InjectedLatency({"dynamodb": (SLOW, SLOW), "sqs": (0.0, 0.0)}, seed=1)
    dynamodb, sqs = _clients(latency)
    assert _elapsed(dynamodb.list_tables) >= SLOW
    assert _elapsed(sqs.list_queues) < SLOW / 2
    assert latency.calls == {"dynamodb": 1, "sqs": 1}
    assert latency.slept["dynamodb"] == SLOW
    assert len(latency.answered) == 2  # the "emulator" answered each call after its delay


def test_services_without_a_latency_are_not_delayed_or_counted() -> None:
    latency = InjectedLatency({"dynamodb": (SLOW, SLOW)}, seed=1)
    _, sqs = _clients(latency)
    assert _elapsed(sqs.list_queues) < SLOW / 2
    assert latency.calls == {}


def test_delays_are_drawn_within_the_range_and_repeat_with_the_seed() -> None:
    def draws(seed: int) -> list[float]:
        slept: list[float] = []
        latency = InjectedLatency({"sqs": (0.010, 0.020)}, seed=seed, sleep=slept.append)
        _, sqs = _clients(latency)
        for _ in range(20):
            sqs.list_queues()
        return slept

    first = draws(3)
    assert len(first) == 20
    assert all(0.010 <= s <= 0.020 for s in first)
    assert len(set(first)) > 1
    assert draws(3) == first
    assert draws(4) != first
