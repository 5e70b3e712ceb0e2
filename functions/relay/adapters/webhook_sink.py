"""The storefront webhook: POST a signed request, say whether it was accepted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from relay.domain.poll_outcome import parse_retry_after
from relay.domain.webhook import SignedRequest, SinkVerdict, classify_sink_status


@dataclass(frozen=True)
class SinkResult:
    verdict: SinkVerdict
    status_code: int | None  # None: no answer (timeout, connection error)
    retry_after: float | None = None


class WebhookSink:
    def __init__(self, url: str, http: Callable[[], httpx.AsyncClient]) -> None:
        self._url = url
        self._http = http

    async def send(self, request: SignedRequest) -> SinkResult:
        try:
            response = await self._http().post(
                self._url, content=request.body, headers=request.headers
            )
        except httpx.HTTPError:  # transport errors, timeouts, undecodable responses
            return SinkResult(SinkVerdict.RETRY_LATER, None)
        return SinkResult(
            classify_sink_status(response.status_code),
            response.status_code,
            parse_retry_after(response.headers.get("retry-after")),
        )
