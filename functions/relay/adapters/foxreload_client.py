"""FoxReload API over httpx (async): one order GET, classified by relay.domain.poll_outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from relay.domain.order_message import is_valid_order_id
from relay.domain.poll_outcome import HttpReply, TransportFailure

USER_AGENT = "foxreload-delivery-relay/0.1"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 3.0
    read: float = 8.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.read)


class FoxReloadClient:
    """Polls one order. The API key comes from `api_key()` and is re-read once after a 401,
    so a rotated key is picked up without a cold start."""

    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        invalidate_key: Callable[[], None],
        http: Callable[[], httpx.AsyncClient],
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._invalidate_key = invalidate_key
        self._http = http

    async def get_order(self, order_id: str) -> HttpReply | TransportFailure:
        if not is_valid_order_id(order_id):  # defence in depth: never build a URL from junk
            raise ValueError("refusing to poll an unvalidated order id")
        reply = await self._get(order_id, await asyncio.to_thread(self._api_key))
        if isinstance(reply, HttpReply) and reply.status_code == 401:
            await asyncio.to_thread(self._invalidate_key)
            reply = await self._get(order_id, await asyncio.to_thread(self._api_key))
        return reply

    async def list_orders(
        self, page: int, limit: int, status: str | None = None
    ) -> HttpReply | TransportFailure:
        """One page of `GET /api/orders/` (newest first by createdAt)."""
        params = {"page": str(page), "limit": str(limit)}
        if status:
            params["status"] = status
        reply = await self._send("/api/orders/", params, await asyncio.to_thread(self._api_key))
        if isinstance(reply, HttpReply) and reply.status_code == 401:
            await asyncio.to_thread(self._invalidate_key)
            reply = await self._send("/api/orders/", params, await asyncio.to_thread(self._api_key))
        return reply

    async def _get(self, order_id: str, key: str) -> HttpReply | TransportFailure:
        return await self._send(f"/api/orders/{order_id}", None, key)

    async def _send(
        self, path: str, params: dict[str, str] | None, key: str
    ) -> HttpReply | TransportFailure:
        url = f"{self._base_url}{path}"
        headers = {"X-API-Key": key, "Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            response = await self._http().get(url, headers=headers, params=params)
        except httpx.TimeoutException:
            return TransportFailure.TIMEOUT
        except httpx.HTTPError:  # transport errors, undecodable bodies
            return TransportFailure.CONNECTION
        return HttpReply(
            status_code=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
        )
