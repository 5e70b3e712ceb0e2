"""The loopback servers treat a client hanging up as traffic, not as a fault to print."""

from __future__ import annotations

import socket
import struct
import time
from http.server import BaseHTTPRequestHandler

import pytest

from simulator.httpd import LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    def handle(self) -> None:
        if self.rfile.readline(16) == b"boom\n":
            raise ValueError("a real fault")
        self.rfile.readline(65537)  # the client resets here


class _Owner:
    pass


@pytest.fixture
def server():
    from simulator.httpd import BackgroundServer

    bg = BackgroundServer("127.0.0.1", 0, _Handler)
    bg.start_server(_Owner())
    yield bg
    bg.stop_server()


def _reset_after(port: int, payload: bytes) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(payload)
    time.sleep(0.05)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST instead of FIN
    time.sleep(0.2)


def test_a_client_reset_prints_nothing(server, capfd):
    _reset_after(server.port, b"GET / HTTP/1.1\r\n")
    assert "Traceback" not in capfd.readouterr().err


def test_a_real_handler_fault_is_still_printed(server, capfd):
    _reset_after(server.port, b"boom\n")
    assert "ValueError: a real fault" in capfd.readouterr().err


def test_the_server_is_loopback_only():
    with pytest.raises(ValueError):
        LoopbackServer("0.0.0.0", 0, _Handler)
