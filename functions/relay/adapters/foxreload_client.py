"""FoxReload API over httpx (async): one order GET or one list page, classified by
relay.domain.poll_outcome. Every request is bounded in total time and body size."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from relay.domain.order_message import is_valid_order_id
from relay.domain.poll_outcome import HttpReply, TransportFailure

USER_AGENT = "foxreload-delivery-relay/0.1"
# One order is a few kB; a list page of 100 orders with their codes well under 1 MB. A body
# past these is not an answer the relay can use, and reading it would hold the function.
MAX_ORDER_BODY_BYTES = 256 * 1024
MAX_PAGE_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect to FoxReload and to wait for each read of its answer."""

    connect: float = 3.0
    read: float = 8.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.read)

    @property
    def total(self) -> float:
        """The most one request may take from start to last byte (httpx's limits are per
        read, so a body trickled a byte at a time would otherwise never time out)."""
        return self.connect + self.read


class FoxReloadClient:
    """Polls one order. The API key comes from `api_key()` and is re-read once after a 401,
    so a rotated key is picked up without a cold start."""

    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        invalidate_key: Callable[[], None],
        http: Callable[[], httpx.AsyncClient],
        timeouts: Timeouts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._invalidate_key = invalidate_key
        self._http = http
        self._timeouts = timeouts or Timeouts()
        self._clock = clock

    async def get_order(
        self, order_id: str, until: float | None = None
    ) -> HttpReply | TransportFailure:
        """`until` (epoch seconds): no answer is waited for past it (the Lambda's time)."""
        if not is_valid_order_id(order_id):  # defence in depth: never build a URL from junk
            raise ValueError("refusing to poll an unvalidated order id")
        return await self._authorised(f"/api/orders/{order_id}", None, MAX_ORDER_BODY_BYTES, until)

    async def list_orders(
        self, page: int, limit: int, status: str | None = None, until: float | None = None
    ) -> HttpReply | TransportFailure:
        """One page of `GET /api/orders/` (newest first by createdAt)."""
        params = {"page": str(page), "limit": str(limit)}
        if status:
            params["status"] = status
        return await self._authorised("/api/orders/", params, MAX_PAGE_BODY_BYTES, until)

    async def _authorised(
        self, path: str, params: dict[str, str] | None, max_bytes: int, until: float | None
    ) -> HttpReply | TransportFailure:
        """The request, and once more with a freshly read key after a 401 (a rotated key)."""
        reply = await self._send(path, params, max_bytes, until)
        if isinstance(reply, HttpReply) and reply.status_code == 401:
            await asyncio.to_thread(self._invalidate_key)
            reply = await self._send(path, params, max_bytes, until)
        return reply

    async def _send(
        self, path: str, params: dict[str, str] | None, max_bytes: int, until: float | None
    ) -> HttpReply | TransportFailure:
        """One GET with the key as `api_key()` reads it now (cached, or fresh once invalidated)."""
        key = await asyncio.to_thread(self._api_key)
        url = f"{self._base_url}{path}"
        headers = {"X-API-Key": key, "Accept": "application/json", "User-Agent": USER_AGENT}
        budget = self._timeouts.total
        if until is not None:
            budget = min(budget, until - self._clock())
        if budget <= 0:
            return TransportFailure.TIMEOUT
        try:
            async with asyncio.timeout(budget):
                async with self._http().stream(
                    "GET", url, headers=headers, params=params
                ) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            return TransportFailure.OVERSIZED
                    return HttpReply(
                        status_code=response.status_code,
                        headers={k.lower(): v for k, v in response.headers.items()},
                        body=bytes(body),
                    )
        except (httpx.TimeoutException, TimeoutError):
            return TransportFailure.TIMEOUT
        except httpx.HTTPError:  # transport errors, undecodable bodies
            return TransportFailure.CONNECTION
