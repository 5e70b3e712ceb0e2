"""The FoxReload client's one 401 path: the key is read again once, and only after a 401."""

from __future__ import annotations

import asyncio

import httpx

from relay.adapters.foxreload_client import FoxReloadClient
from relay.domain.poll_outcome import HttpReply


class _Keys:
    """A cached secret: the current value until invalidated, then the rotated one."""

    def __init__(self) -> None:
        self.values = ["old-key", "new-key"]
        self.invalidations = 0

    def read(self) -> str:
        return self.values[min(self.invalidations, 1)]

    def invalidate(self) -> None:
        self.invalidations += 1


def _client(statuses: list[int]) -> tuple[FoxReloadClient, _Keys, list[str]]:
    keys, seen = _Keys(), []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["X-API-Key"])
        return httpx.Response(statuses[len(seen) - 1], json={})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return FoxReloadClient("https://fox.test", keys.read, keys.invalidate, lambda: http), keys, seen


def test_a_401_rereads_the_key_and_retries_once_with_the_new_one():
    client, keys, seen = _client([401, 200])
    reply = asyncio.run(client.get_order("ord-1"))
    assert isinstance(reply, HttpReply) and reply.status_code == 200
    assert seen == ["old-key", "new-key"]
    assert keys.invalidations == 1


def test_a_second_401_is_the_answer_no_third_request():
    client, keys, seen = _client([401, 401, 200])
    reply = asyncio.run(client.list_orders(1, 50))
    assert isinstance(reply, HttpReply) and reply.status_code == 401
    assert seen == ["old-key", "new-key"]
    assert keys.invalidations == 1


def test_other_answers_keep_the_cached_key():
    for status in (200, 403, 429, 500):
        client, keys, seen = _client([status])
        reply = asyncio.run(client.get_order("ord-1"))
        assert isinstance(reply, HttpReply) and reply.status_code == status
        assert seen == ["old-key"] and keys.invalidations == 0
