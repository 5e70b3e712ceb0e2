"""The storefront webhook: POST a signed request, say whether it was accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from relay.domain.attempt_log import TransportFailureKind
from relay.domain.poll_outcome import bounded_retry_after
from relay.domain.webhook import SignedRequest, SinkVerdict, classify_sink_status


@dataclass(frozen=True)
class SinkResult:
    """What became of one webhook to the storefront: accepted, refused, or no answer."""

    verdict: SinkVerdict
    status_code: int | None  # None: no answer (timeout, connection error)
    retry_after: float | None = None
    long_back_off: bool = False  # Retry-After asked for more than the relay obeys
    failure: str | None = None  # TransportFailureKind when there was no answer
    latency_seconds: float = 0.0  # from the start of the POST to its answer (or failure)


class WebhookSink:
    def __init__(self, url: str, http: Callable[[], httpx.AsyncClient]) -> None:
        self._url = url
        self._http = http

    async def send(self, request: SignedRequest, budget_seconds: float) -> SinkResult:
        """One POST, bounded in total by `budget_seconds` (httpx's own timeouts are per read).
        The answer's body is never read: only its status and Retry-After matter, and a
        storefront that streams a large or endless body must not hold the relay."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(0.1, budget_seconds)):
                async with self._http().stream(
                    "POST", self._url, content=request.body, headers=request.headers
                ) as response:
                    status = response.status_code
                    retry_after, long_back_off = bounded_retry_after(
                        response.headers.get("retry-after")
                    )
        except (httpx.TimeoutException, TimeoutError):  # httpx's timeouts, the total bound
            return SinkResult(
                SinkVerdict.RETRY_LATER,
                None,
                failure=TransportFailureKind.TIMEOUT,
                latency_seconds=time.monotonic() - started,
            )
        except httpx.HTTPError:  # refused, reset, TLS, protocol errors
            return SinkResult(
                SinkVerdict.RETRY_LATER,
                None,
                failure=TransportFailureKind.CONNECTION,
                latency_seconds=time.monotonic() - started,
            )
        return SinkResult(
            classify_sink_status(status),
            status,
            retry_after,
            long_back_off,
            latency_seconds=time.monotonic() - started,
        )
