"""A small loopback HTTP server base: JSON in/out, background thread, clean stop.

Shared by the FoxReload simulator and the storefront receiver. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BadRequestBody(ValueError):
    pass


class LoopbackServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so stop() can cut them all."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default listen backlog of 5 drops bursts of new connections

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        if host not in LOOPBACK:
            raise ValueError("this server binds to loopback only")
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.stopping = threading.Event()
        super().__init__((host, port), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a relay deadline cutting a request short, a pooled keep-alive
        # connection closed by its owner) is normal traffic here, not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def cut_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class BackgroundServer:
    """Runs a LoopbackServer's serve_forever on a daemon thread; a context manager."""

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self._args = (host, port, handler)
        self.httpd: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self.httpd is None:
            raise RuntimeError("server is not running")
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = self._args[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start_server(self, owner: Any) -> None:
        if self.httpd is not None:
            raise RuntimeError("already running")
        httpd = LoopbackServer(*self._args)
        httpd.owner = owner  # type: ignore[attr-defined]
        self.httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"{type(owner).__name__}:{self.port}",
        )
        self._thread.start()

    def stop_server(self) -> None:
        httpd, thread = self.httpd, self._thread
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.cut_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self.httpd = self._thread = None


class JsonHandler(BaseHTTPRequestHandler):
    """Request handler helpers; subclasses implement `route(method)`."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server_version = "LoopbackSandbox/1"
    log_requests: ClassVar[bool] = False

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.url_path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._body: bytes | None = None
        try:
            self.route(method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def route(self, method: str) -> None:
        raise NotImplementedError

    def raw_body(self) -> bytes:
        if self._body is None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            self._body = self.rfile.read(length) if length > 0 else b""
        return self._body

    def json_body(self) -> Any:
        raw = self.raw_body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise BadRequestBody("request body is not valid JSON") from None

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def drain_body(self) -> None:
        """Read an unread request body so a keep-alive connection stays in sync."""
        self.raw_body()

    def log_message(self, format: str, *args: Any) -> None:
        if self.log_requests:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


class LoopbackService:
    """Start/stop and context-manager plumbing for an object that serves on a BackgroundServer
    (the FoxReload simulator, the storefront receiver): subclasses set `self._server`."""

    _server: BackgroundServer

    def start(self) -> Self:
        self._server.start_server(self)
        return self

    def stop(self) -> None:
        self._server.stop_server()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        return self._server.base_url
