"""A storefront webhook receiver for the local stack, tests and demos.

It plays the storefront end of the delivery webhook (design contract 3): it checks the
Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and, when
present, `X-Relay-Signature`, with the relay's own `verify_standard` / `verify`; records each
accepted delivery by `webhook-id` (which must equal `Idempotency-Key` when both are sent), counts
duplicates (a key accepted more than once), and can be scripted to answer with other statuses
(503 twice then 200, a permanent 400, ...) or be taken down for a while (`start_outage()` /
`end_outage()`, or `POST /_receiver/outage`): while down it answers every webhook with the
outage status before looking at it, as a storefront behind a load balancer with no healthy
backend does, and counts the refusals. The secret may be a rotation value
(`{"current": ..., "previous": ...}`): a delivery signed by either is accepted.

It never logs or prints codes: the log line of a delivery has its key, event and code count only.
Codes are kept in memory (Delivery.payload, hidden from repr) so tests can compare them.

    with StorefrontReceiver(secret="whsec_...") as rx:
        ...  # point SINK_WEBHOOK_URL at rx.url
        rx.wait_for(50, timeout=60)
        assert rx.duplicate_count() == 0

CLI: python -m local_stack.storefront_receiver --port 8081 --secret whsec_...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from relay.domain.events import Event
from relay.domain.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_ID_HEADER,
    verify,
    verify_standard,
)
from simulator.httpd import BackgroundServer, JsonHandler, LoopbackService

WEBHOOK_PATH: Final = "/webhook"
DELIVERED_EVENT: Final = Event.DELIVERED.value


@dataclass(frozen=True)
class Delivery:
    """One accepted (2xx-answered, correctly signed) webhook request."""

    idempotency_key: str
    order_id: str | None
    event: str | None
    storefront_ref: str | None
    status: str | None
    code_count: int
    item_errors: tuple[str, ...]
    received_at: float
    body_sha256: str
    duplicate: bool
    payload: dict[str, Any] = field(repr=False, compare=False)

    def codes(self) -> list[list[str]]:
        """The codes per item (never log these)."""
        items = self.payload.get("items") or []
        return [list(item.get("codes") or []) for item in items if isinstance(item, dict)]


@dataclass
class _Counters:
    requests: int = 0
    accepted: int = 0
    duplicates: int = 0
    bad_signature: int = 0
    malformed: int = 0
    outage_refused: int = 0
    scripted: Counter[int] = field(default_factory=Counter)
    by_event: Counter[str] = field(default_factory=Counter)


class StorefrontReceiver(LoopbackService):
    """The storefront webhook endpoint on loopback. Start/stop it, or use it as a context manager.

    secret: the shared secret (SINK_WEBHOOK_SECRET's value: whsec_..., a plain string, or the
    rotation object). tolerance: accepted clock skew
    of the signature timestamp, seconds. default_status: what a valid request gets when nothing
    is scripted (200). delay: seconds to wait before answering (a slow storefront).
    clock: the receiver's notion of now for signature freshness (time.time).
    """

    def __init__(
        self,
        secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: float = 300.0,
        default_status: int = 200,
        delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        log: bool = False,
    ) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.default_status = default_status
        self.delay = delay
        self.clock = clock
        self.log = log
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._accepted_keys: Counter[str] = Counter()
        self._script: deque[int] = deque()
        self._order_scripts: dict[str, deque[int]] = {}
        self._outage: int | None = None  # the status every webhook gets while down
        self._counters = _Counters()
        self._server = BackgroundServer(host, port, _Handler)

    @property
    def url(self) -> str:
        """The webhook URL to configure as SINK_WEBHOOK_URL (any POST path is accepted too)."""
        return self.base_url + WEBHOOK_PATH

    # -- scripting -------------------------------------------------------------------------
    def script(self, statuses: Iterable[int], order_id: str | None = None) -> None:
        """Answer the next valid requests with these statuses (then default_status).

        With `order_id`, only requests for that order consume the script (they take precedence
        over the global one). A 2xx in a script counts as an accepted delivery.
        """
        codes = [int(s) for s in statuses]
        if any(not 100 <= s <= 599 for s in codes):
            raise ValueError("statuses must be HTTP status codes")
        with self._lock:
            if order_id is None:
                self._script.extend(codes)
            else:
                self._order_scripts.setdefault(order_id, deque()).extend(codes)

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()
            self._order_scripts.clear()

    # -- an outage -------------------------------------------------------------------------
    def start_outage(self, status: int = 503) -> None:
        """Answer every webhook with `status` until `end_outage()` (scripts and default_status
        resume then). A 5xx, 408 or 429 is an outage the relay retries; another 4xx is a
        storefront that refuses everything for good."""
        if not 300 <= int(status) <= 599:
            raise ValueError("an outage answers with a 3xx, 4xx or 5xx status")
        with self._lock:
            self._outage = int(status)

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    @property
    def outage_status(self) -> int | None:
        """The status every webhook gets right now, or None when the storefront is up."""
        with self._lock:
            return self._outage

    def _next_status(self, order_id: str | None) -> int:
        with self._lock:
            per_order = self._order_scripts.get(order_id or "")
            if per_order:
                return per_order.popleft()
            if self._script:
                return self._script.popleft()
            return self.default_status

    # -- reading what happened -------------------------------------------------------------
    def deliveries(self) -> list[Delivery]:
        """Every accepted delivery in arrival order, duplicates included (marked)."""
        with self._lock:
            return list(self._deliveries)

    def unique_deliveries(self) -> dict[str, Delivery]:
        """The first accepted delivery per Idempotency-Key."""
        with self._lock:
            out: dict[str, Delivery] = {}
            for d in self._deliveries:
                out.setdefault(d.idempotency_key, d)
            return out

    def duplicates(self) -> dict[str, int]:
        """Idempotency-Key -> how many times it was accepted beyond the first (only keys > 0)."""
        with self._lock:
            return {k: n - 1 for k, n in self._accepted_keys.items() if n > 1}

    def duplicate_count(self) -> int:
        with self._lock:
            return self._counters.duplicates

    def delivered_order_ids(self, event: str | None = DELIVERED_EVENT) -> set[str]:
        """Order ids with an accepted delivery of `event` (None = any event)."""
        with self._lock:
            return {
                d.order_id
                for d in self._deliveries
                if d.order_id and (event is None or d.event == event)
            }

    def events_by_order(self) -> dict[str, list[str]]:
        with self._lock:
            out: dict[str, list[str]] = {}
            for d in self._deliveries:
                if d.order_id and d.event:
                    out.setdefault(d.order_id, []).append(d.event)
            return out

    def wait_for(self, count: int, timeout: float, event: str | None = None) -> bool:
        """Block until `count` distinct orders have an accepted delivery (of `event`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._orders_with(event)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.5))
            return True

    def _orders_with(self, event: str | None) -> set[str]:
        return {
            d.order_id
            for d in self._deliveries
            if d.order_id and (event is None or d.event == event)
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = self._counters
            return {
                "requests": c.requests,
                "accepted": c.accepted,
                "uniqueKeys": len(self._accepted_keys),
                "duplicates": c.duplicates,
                "duplicateKeys": sum(1 for n in self._accepted_keys.values() if n > 1),
                "badSignature": c.bad_signature,
                "malformed": c.malformed,
                "outage": self._outage,
                "outageRefused": c.outage_refused,
                "scriptedStatuses": {str(k): v for k, v in c.scripted.items()},
                "byEvent": dict(c.by_event),
                "ordersDelivered": len(self._orders_with(DELIVERED_EVENT)),
                "pendingScript": len(self._script)
                + sum(len(q) for q in self._order_scripts.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._accepted_keys.clear()
            self._counters = _Counters()
            self._script.clear()
            self._order_scripts.clear()
            self._outage = None

    # -- the request path (called by the HTTP handler) -------------------------------------
    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Decide the answer to one webhook POST; returns (status, JSON body)."""
        with self._lock:
            self._counters.requests += 1
            outage = self._outage
            if outage is not None:
                self._counters.outage_refused += 1
        if outage is not None:
            return outage, {"error": f"storefront down (outage, {outage})"}
        if not self._signed(headers, body):
            with self._lock:
                self._counters.bad_signature += 1
            return 401, {"error": "bad signature"}
        key = headers.get(WEBHOOK_ID_HEADER, "")
        legacy_key = headers.get(IDEMPOTENCY_HEADER.lower(), key)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not key or legacy_key != key or not isinstance(payload, dict):
            with self._lock:
                self._counters.malformed += 1
            return 400, {"error": "Idempotency-Key differs from webhook-id, or body not an object"}
        order_id = payload.get("order_id")
        order_id = order_id if isinstance(order_id, str) else None
        status = self._next_status(order_id)
        if self.delay > 0:
            time.sleep(self.delay)
        if not 200 <= status < 300:
            with self._lock:
                self._counters.scripted[status] += 1
            return status, {"error": f"scripted {status}"}
        duplicate = self._record(key, order_id, payload, body)
        return status, {"accepted": True, "duplicate": duplicate}

    def _signed(self, headers: dict[str, str], body: bytes) -> bool:
        """webhook-signature must verify; X-Relay-Signature too when the request carries it."""
        now = self.clock()
        if not verify_standard(self.secret, headers, body, now, self.tolerance):
            return False
        legacy = headers.get(SIGNATURE_HEADER.lower())
        return legacy is None or verify(self.secret, legacy, body, now, self.tolerance)

    def _record(self, key: str, order_id: str | None, payload: dict[str, Any], body: bytes) -> bool:
        items = [i for i in payload.get("items") or [] if isinstance(i, dict)]
        event = payload.get("event")
        with self._lock:
            duplicate = self._accepted_keys[key] > 0
            self._accepted_keys[key] += 1
            delivery = Delivery(
                idempotency_key=key,
                order_id=order_id,
                event=event if isinstance(event, str) else None,
                storefront_ref=_text(payload.get("storefront_ref")),
                status=_text(payload.get("status")),
                code_count=sum(len(i.get("codes") or []) for i in items),
                item_errors=tuple(str(i["error"]) for i in items if i.get("error")),
                received_at=time.time(),
                body_sha256=hashlib.sha256(body).hexdigest(),
                duplicate=duplicate,
                payload=payload,
            )
            self._deliveries.append(delivery)
            self._counters.accepted += 1
            self._counters.duplicates += int(duplicate)
            if delivery.event:
                self._counters.by_event[delivery.event] += 1
            self._lock.notify_all()
        if self.log:
            # key, event and counts only: never the codes
            mark = " DUPLICATE" if duplicate else ""
            print(
                f"receiver: {key} {delivery.event} codes={delivery.code_count}{mark}",
                file=sys.stderr,
            )
        return duplicate


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Handler(JsonHandler):
    server_version = "StorefrontReceiver/1"

    def route(self, method: str) -> None:
        rx: StorefrontReceiver = self.owner
        path = self.url_path.rstrip("/")
        if method == "GET" and path == "/_receiver/stats":
            self.send_json(200, rx.stats())
        elif method == "POST" and path == "/_receiver/script":
            self._script(rx)
        elif method == "POST" and path == "/_receiver/outage":
            self._set_outage(rx)
        elif method == "POST" and path == "/_receiver/reset":
            self.drain_body()
            rx.reset()
            self.send_json(200, {"reset": True})
        elif method == "POST" and not path.startswith("/_receiver"):
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = rx.handle(headers, self.raw_body())
            self.send_json(status, payload)
        else:
            self.drain_body()
            self.send_json(404, {"error": "not found"})

    def _script(self, rx: StorefrontReceiver) -> None:
        try:
            body = self.json_body()
            rx.script(body["statuses"], body.get("orderId"))
        except (ValueError, KeyError, TypeError) as exc:
            self.send_json(400, {"error": f"expected {{'statuses': [..], 'orderId'?}}: {exc}"})
            return
        self.send_json(200, rx.stats())

    def _set_outage(self, rx: StorefrontReceiver) -> None:
        """{"status": 503} takes the storefront down; {"status": null} brings it back."""
        try:
            status = self.json_body()["status"]
            if status is None:
                rx.end_outage()
            else:
                rx.start_outage(int(status))
        except (ValueError, KeyError, TypeError) as exc:
            self.send_json(400, {"error": f"expected {{'status': 503 | null}}: {exc}"})
            return
        self.send_json(200, rx.stats())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local_stack.storefront_receiver")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--secret", required=True, help="the webhook signing secret")
    p.add_argument("--tolerance", type=float, default=300.0)
    args = p.parse_args(argv)
    rx = StorefrontReceiver(args.secret, port=args.port, tolerance=args.tolerance, log=True).start()
    print(f"storefront receiver on {rx.url}  (stats: {rx.base_url}/_receiver/stats)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        rx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
