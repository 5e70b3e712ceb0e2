"""Total-time and size bounds of the relay's HTTP calls, against real loopback sockets: a
supplier that trickles its body one byte at a time, one that sends an endless body, and a
storefront that never finishes its answer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from relay.adapters.foxreload_client import MAX_ORDER_BODY_BYTES, FoxReloadClient, Timeouts
from relay.adapters.webhook_sink import WebhookSink
from relay.domain.poll_outcome import TransportFailure
from relay.domain.webhook import SignedRequest, SinkVerdict

pytestmark = pytest.mark.wire
OID = "3c2b1a09-8f7e-4d6c-9b5a-493827160504"


def serve(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.recv(65536)  # the request (small)
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def _quiet_send(conn: socket.socket, data: bytes) -> bool:
    try:
        conn.sendall(data)
    except OSError:
        return False
    return True


@pytest.fixture
def trickling() -> Iterator[str]:
    """Headers at once, then one body byte every 0.5 s: each read is well inside the read
    timeout, so only a total bound ends the request."""

    def answer(conn: socket.socket) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        if _quiet_send(conn, head):
            for _ in range(200):
                if not _quiet_send(conn, b" "):
                    break
                time.sleep(0.5)
        conn.close()

    yield from serve(answer)


@pytest.fixture
def endless() -> Iterator[str]:
    """A chunked body that never ends, as fast as the socket takes it."""

    def answer(conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        if _quiet_send(conn, head):
            while _quiet_send(conn, chunk):
                pass
        conn.close()

    yield from serve(answer)


def client(base_url: str, timeouts: Timeouts) -> FoxReloadClient:
    return FoxReloadClient(
        base_url,
        api_key=lambda: "key",
        invalidate_key=lambda: None,
        http=lambda: httpx.AsyncClient(timeout=timeouts.httpx()),
        timeouts=timeouts,
    )


def test_a_trickled_body_ends_at_the_total_bound_not_many_read_timeouts_later(trickling):
    timeouts = Timeouts(connect=1.0, read=1.0)  # each 0.5 s read is inside the read timeout
    started = time.monotonic()
    reply = asyncio.run(client(trickling, timeouts).get_order(OID))
    took = time.monotonic() - started
    assert reply is TransportFailure.TIMEOUT
    assert took < timeouts.total + 1.5  # 100 s of trickle without the bound


def test_the_lambda_deadline_bounds_a_request_below_its_own_timeouts(trickling):
    timeouts = Timeouts(connect=3.0, read=8.0)
    started = time.monotonic()
    reply = asyncio.run(client(trickling, timeouts).get_order(OID, until=time.time() + 1.0))
    assert reply is TransportFailure.TIMEOUT
    assert time.monotonic() - started < 2.5


def test_an_endless_body_is_cut_at_the_size_cap(endless):
    reply = asyncio.run(client(endless, Timeouts(connect=2.0, read=5.0)).get_order(OID))
    assert reply is TransportFailure.OVERSIZED
    assert MAX_ORDER_BODY_BYTES < 1024 * 1024


def test_a_storefront_that_never_finishes_its_answer_is_bounded_and_retried(trickling):
    sink = WebhookSink(trickling, lambda: httpx.AsyncClient(timeout=10.0))
    request = SignedRequest(body=b"{}", headers={}, idempotency_key="k")
    started = time.monotonic()
    result = asyncio.run(sink.send(request, budget_seconds=1.0))
    # the status line came at once: the answer counts, its body is never waited for
    assert result.verdict is SinkVerdict.ACCEPTED
    assert time.monotonic() - started < 2.0


@pytest.fixture
def silent() -> Iterator[str]:
    """Takes the request and never answers."""
    yield from serve(lambda conn: (time.sleep(5), conn.close()))


def test_a_storefront_that_never_answers_is_bounded_by_the_send_budget(silent):
    sink = WebhookSink(silent, lambda: httpx.AsyncClient(timeout=30.0))
    request = SignedRequest(body=b"{}", headers={}, idempotency_key="k")
    started = time.monotonic()
    result = asyncio.run(sink.send(request, budget_seconds=1.0))
    assert result.verdict is SinkVerdict.RETRY_LATER and result.status_code is None
    assert time.monotonic() - started < 2.0
