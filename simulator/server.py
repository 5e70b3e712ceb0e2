"""The FoxReload simulator: the HTTP API, the sandbox control API, and the Python handle.

with FoxReloadSimulator(SimulatorConfig(time_scale=20)) as sim:
    httpx.get(f"{sim.base_url}/api/orders/", headers={"X-API-Key": sim.api_key})
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
from typing import Any, Final

from simulator import faults as fl
from simulator.catalog import CATEGORIES, PRODUCTS
from simulator.clock import ScaledClock, retry_after_header
from simulator.config import SimulatorConfig
from simulator.httpd import BackgroundServer, BadRequestBody, JsonHandler, LoopbackService
from simulator.openapi import spec
from simulator.ratelimit import SlidingWindowLimiter
from simulator.sandbox import (
    ApiError,
    ItemRequest,
    Sandbox,
    default_items,
    iso,
    parse_items,
    parse_responses,
    parse_script,
)
from simulator.stats import Stats

RATE_WINDOW_SECONDS: Final = 60.0
OUTAGE_RETRY_AFTER_SECONDS: Final = 5.0

# (method, path regex, endpoint name); names are used by stats and fault `endpoints`
API_ROUTES: Final = (
    ("GET", re.compile(r"^/api/orders/?$"), "list_orders"),
    ("POST", re.compile(r"^/api/orders/?$"), "create_order"),
    ("GET", re.compile(r"^/api/orders/(?P<id>[^/]+)/?$"), "get_order"),
    ("POST", re.compile(r"^/api/orders/(?P<id>[^/]+)/pay/?$"), "pay_order"),
    ("POST", re.compile(r"^/api/topups/crypto/?$"), "topup_crypto"),
    ("GET", re.compile(r"^/api/topups/?$"), "list_topups"),
    ("GET", re.compile(r"^/api/products/search/?$"), "search_products"),
    ("GET", re.compile(r"^/api/products/?$"), "list_products"),
    ("GET", re.compile(r"^/api/categories/?$"), "list_categories"),
    ("GET", re.compile(r"^/v1/balance/?$"), "v1_balance"),
)
ENDPOINTS: Final = tuple(name for _, _, name in API_ROUTES)


class FoxReloadSimulator(LoopbackService):
    """A FoxReload API sandbox on loopback. Start/stop it, or use it as a context manager."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.clock = ScaledClock(self.config.time_scale)
        self.sandbox = Sandbox(self.config, self.clock)
        self.stats = Stats()
        self.api_keys = set(self.config.api_keys)
        self.limiter = SlidingWindowLimiter(self.config.rate_limit_per_minute, RATE_WINDOW_SECONDS)
        for key, limit in self.config.key_rate_limits.items():
            self.limiter.set_limit(key, limit)
        self.v1_balance_enabled = self.config.v1_balance
        self._faults = self.config.faults
        self._fault_rng = random.Random(None if self.config.seed is None else self.config.seed + 1)
        self._fault_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"log_requests": self.config.log_requests})
        self._server = BackgroundServer(self.config.host, self.config.port, handler)

    @property
    def api_key(self) -> str:
        """The first configured API key (the one to hand to the relay)."""
        return self.config.api_keys[0]

    @property
    def stopping(self) -> threading.Event:
        httpd = self._server.httpd
        return httpd.stopping if httpd is not None else threading.Event()

    # -- faults and configuration ----------------------------------------------------------
    @property
    def faults(self) -> fl.FaultProfile:
        return self._faults

    def set_faults(self, profile: str | fl.FaultProfile, **overrides: Any) -> fl.FaultProfile:
        base = fl.profile(profile) if isinstance(profile, str) else profile
        with self._fault_lock:
            self._faults = base.updated(overrides) if overrides else base
            return self._faults

    def draw_fault(self, endpoint: str) -> fl.FaultDecision:
        with self._fault_lock:
            return fl.draw(self._faults, endpoint, self._fault_rng)

    def set_rate_limit(self, per_minute: int, key: str | None = None) -> None:
        if key is None:
            if per_minute < 1:
                raise ValueError("limit must be >= 1")
            self.limiter.limit = per_minute
        else:
            self.limiter.set_limit(key, per_minute)

    # -- in-process conveniences (no HTTP, no rate limit, no faults) -----------------------
    def create_order(
        self,
        items: list[dict[str, Any]] | None = None,
        *,
        paid: bool = True,
        charge: bool = True,
        timeline: list[Any] | None = None,
        responses: list[int | str] | None = None,
        item_error: str | None = None,
        failed_items: list[int] | None = None,
    ) -> dict[str, Any]:
        """Create an order as a storefront would (create + pay), or with a scripted timeline.

        `timeline` = [[status, seconds after creation, cancel reason?], ...] in simulated
        seconds; scripted orders are never charged. `responses` = what successive GETs of the
        order answer before the real order: HTTP statuses, "malformed", "timeout", "slow",
        "order". Returns the order JSON as GET would (at this instant).
        """
        parsed = parse_items(items) if items is not None else default_items()
        script = parse_script(timeline) if timeline is not None else None
        order = self.sandbox.create_order(
            parsed,
            script=script,
            responses=parse_responses(responses),
            item_error=item_error,
            failed_items=failed_items or (),
        )
        if paid and script is None:
            self.sandbox.pay(order.id, charge=charge)
        return self.sandbox.order_json(order.id)

    def order(self, order_id: str) -> dict[str, Any]:
        """The order as GET /api/orders/{id} shows it now (no stats, no faults)."""
        return self.sandbox.order_json(order_id)

    def codes(self, order_id: str) -> list[list[str]]:
        """Every item's codes, whatever the status (for checking what was delivered)."""
        return [list(item.codes) for item in self.sandbox.order(order_id).items]

    def balance(self) -> float:
        return self.sandbox.balance()

    def set_balance(self, amount: float) -> float:
        return self.sandbox.set_balance(amount)

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward."""
        self.clock.advance(seconds)

    def stats_snapshot(self) -> dict[str, Any]:
        snap = self.stats.snapshot()
        snap["orders"] = self.sandbox.counts_by_status()
        snap["balance"] = self.sandbox.balance()
        snap["spent"] = round(self.sandbox.spent, 2)
        snap["refunded"] = round(self.sandbox.refunded, 2)
        snap["now"] = iso(self.clock.now())
        snap["timeScale"] = self.clock.scale
        snap["faultProfile"] = self._faults.name
        return snap

    def config_json(self) -> dict[str, Any]:
        return {
            "apiKeys": sorted(self.api_keys),
            "rateLimitPerMinute": self.limiter.limit,
            "keyRateLimits": self.limiter.limits(),
            "v1Balance": self.v1_balance_enabled,
            "timeScale": self.clock.scale,
            "faults": self._faults.to_json(),
            "currency": self.config.currency,
        }

    def reset(self) -> None:
        """Forget orders, top-ups, stats and rate-limit windows; balance back to initial."""
        self.sandbox.reset()
        self.stats.reset()
        self.limiter.reset()


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "ValidationError", f"{name} must be an integer") from None


class _Handler(JsonHandler):
    server_version = "FoxReloadSimulator/1"
    _stat_endpoint: str | None = None

    @property
    def sim(self) -> FoxReloadSimulator:
        owner: FoxReloadSimulator = self.owner
        return owner

    def route(self, method: str) -> None:
        path = self.url_path
        try:
            if path.startswith("/_sim/") or path == "/_sim":
                self._control(method, path)
            elif path == "/api/openapi.json" and method == "GET":
                self.send_json(200, spec(self.sim.base_url))
            else:
                self._api(method, path)
        except ApiError as exc:
            self.drain_body()
            self.send_json(exc.status, exc.body())
        except BadRequestBody as exc:
            self.send_json(400, {"error": "ValidationError", "message": str(exc)})

    # -- the public API --------------------------------------------------------------------
    def _match(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        path_known = False
        for route_method, pattern, name in API_ROUTES:
            found = pattern.match(path)
            if found:
                path_known = True
                if route_method == method:
                    return name, found.groupdict()
        if path_known:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")
        raise ApiError(404, "NotFound", "no such endpoint")

    def _api(self, method: str, path: str) -> None:
        sim = self.sim
        endpoint, params = self._match(method, path)
        if endpoint == "v1_balance" and not sim.v1_balance_enabled:
            raise ApiError(404, "NotFound", "no such endpoint")
        sim.stats.request(endpoint, params.get("id"))
        self._stat_endpoint = endpoint  # send_response records the status before the body goes
        try:
            self._gate(endpoint, params)
        finally:
            self._stat_endpoint = None

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header tells the simulator's now on the client's clock, like `createdAt`
        (Clock.relay_time): the relay's sweeper ages listed orders by the difference."""
        clock = self.sim.clock
        return email.utils.formatdate(
            clock.relay_time(clock.now()) if timestamp is None else timestamp, usegmt=True
        )

    def send_response(self, code: int, message: str | None = None) -> None:
        endpoint = self._stat_endpoint
        if endpoint is not None:
            self.sim.stats.response(endpoint, code)
        super().send_response(code, message)

    def _gate(self, endpoint: str, params: dict[str, str]) -> int | str:
        """Auth, rate limit, scripted responses, faults; then the endpoint. Returns the status."""
        sim = self.sim
        key = self.headers.get("X-API-Key")
        if key is None or key not in sim.api_keys:
            self.drain_body()
            self.send_json(401, {"error": "Unauthorized", "message": "missing or invalid API key"})
            return 401
        sim.stats.authenticated(key, endpoint)
        decision = sim.limiter.check(key, sim.clock.now())
        if not decision.allowed:
            self.drain_body()
            retry = retry_after_header(sim.clock, decision.retry_after)
            self.send_json(
                429,
                {
                    "error": "TooManyRequests",
                    "message": "rate limit exceeded",
                    "retryAfter": int(retry),
                },
                headers={"Retry-After": retry, "X-RateLimit-Remaining": "0"},
            )
            return 429
        if endpoint == "get_order":
            scripted = sim.sandbox.next_scripted_response(params["id"])
            if scripted is not None:
                sim.stats.scripted_response()
                return self._scripted(scripted, params["id"])
        fault = sim.draw_fault(endpoint)
        if fault.fault is not fl.Fault.NONE:
            sim.stats.fault(fault.fault.value)
        return self._with_fault(fault, endpoint, params)

    def _with_fault(
        self, fault: fl.FaultDecision, endpoint: str, params: dict[str, str]
    ) -> int | str:
        sim = self.sim
        if fault.fault is fl.Fault.TIMEOUT:
            return self._hang(fault.delay)
        if fault.fault is fl.Fault.ERROR_5XX:
            self.drain_body()
            return self._error_5xx(fault.status)
        if fault.fault is fl.Fault.SLOW and sim.stopping.wait(fault.delay):
            return "stopped"
        status, payload = self._call(endpoint, params)
        if fault.fault is fl.Fault.MALFORMED:
            self._malformed(payload)
            return "malformed"
        self.send_json(status, payload)
        return status

    def _hang(self, seconds: float) -> str:
        """Answer nothing for `seconds` (longer than any sane client timeout), then hang up."""
        self.drain_body()
        endpoint = self._stat_endpoint
        if endpoint is not None:
            self.sim.stats.response(endpoint, "timeout")
        self.sim.stopping.wait(seconds)
        self.close_connection = True
        return "timeout"

    def _error_5xx(self, status: int) -> int:
        headers = {}
        if status == 503:
            headers["Retry-After"] = retry_after_header(self.sim.clock, OUTAGE_RETRY_AFTER_SECONDS)
        self.send_json(
            status,
            {
                "error": "ServiceUnavailable" if status == 503 else "InternalServerError",
                "message": "simulated failure",
            },
            headers=headers,
        )
        return status

    def _malformed(self, payload: Any) -> None:
        text = json.dumps(payload).encode()
        self.send_bytes(200, text[: max(1, len(text) // 2)])

    def _scripted(self, entry: int | str, order_id: str) -> int | str:
        if entry == "timeout":
            return self._hang(self.sim.faults.hang_seconds)
        if entry == "slow":
            if self.sim.stopping.wait(self.sim.faults.slow_max_seconds):
                return "stopped"
            entry = "order"
        if entry == "malformed":
            self._malformed(self.sim.sandbox.order_json(order_id))
            return "malformed"
        if entry in ("order", 200):
            status, payload = self._call("get_order", {"id": order_id})
            self.send_json(status, payload)
            return status
        assert isinstance(entry, int)
        if entry == 429:
            self.send_json(
                429,
                {"error": "TooManyRequests", "message": "scripted"},
                headers={"Retry-After": "1"},
            )
        elif entry >= 500:
            return self._error_5xx(entry)
        elif entry == 404:
            self.send_json(404, {"error": "OrderNotFound", "message": "order not found"})
        else:
            self.send_json(entry, {"error": "Scripted", "message": f"scripted {entry}"})
        return entry

    def _call(self, endpoint: str, params: dict[str, str]) -> tuple[int, Any]:
        """Run one public endpoint; ApiError becomes an error answer."""
        try:
            return self._endpoint(endpoint, params)
        except ApiError as exc:
            return exc.status, exc.body()

    def _endpoint(self, endpoint: str, params: dict[str, str]) -> tuple[int, Any]:
        handler = getattr(self, f"_ep_{endpoint}", None)
        if handler is None:
            raise ApiError(404, "NotFound", "no such endpoint")
        result: tuple[int, Any] = handler(params)
        return result

    def _body_object(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "ValidationError", "body must be a JSON object")
        return body

    def _ep_get_order(self, params: dict[str, str]) -> tuple[int, Any]:
        return 200, self.sim.sandbox.order_json(params["id"])

    def _ep_list_orders(self, params: dict[str, str]) -> tuple[int, Any]:
        q = self.query
        return 200, self.sim.sandbox.list_orders(
            q.get("status") or None, _int_param(q, "page", 1), _int_param(q, "limit", 20)
        )

    def _ep_create_order(self, params: dict[str, str]) -> tuple[int, Any]:
        body = self._body_object()
        order = self.sim.sandbox.create_order(
            parse_items(body.get("items")), body.get("totalPrice")
        )
        return 201, order.to_json(self.sim.clock.now(), self.sim.clock.relay_time)

    def _ep_pay_order(self, params: dict[str, str]) -> tuple[int, Any]:
        self.drain_body()
        return 200, self.sim.sandbox.pay(params["id"]).to_json(
            self.sim.clock.now(), self.sim.clock.relay_time
        )

    def _ep_topup_crypto(self, params: dict[str, str]) -> tuple[int, Any]:
        body = self._body_object()
        return 201, self.sim.sandbox.topup(body.get("amount"), body.get("currency", "USDT"))

    def _ep_list_topups(self, params: dict[str, str]) -> tuple[int, Any]:
        q = self.query
        return 200, self.sim.sandbox.list_topups(
            _int_param(q, "page", 1), _int_param(q, "limit", 20)
        )

    def _ep_list_products(self, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"items": [p.to_json() for p in PRODUCTS]}

    def _ep_search_products(self, params: dict[str, str]) -> tuple[int, Any]:
        needle = self.query.get("q", "").lower()
        return 200, {"items": [p.to_json() for p in PRODUCTS if needle in p.name.lower()]}

    def _ep_list_categories(self, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"items": [c.to_json() for c in CATEGORIES]}

    def _ep_v1_balance(self, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"balance": self.sim.sandbox.balance(), "currency": self.sim.config.currency}

    # -- the sandbox control API (/_sim/...) -----------------------------------------------
    def _control(self, method: str, path: str) -> None:
        from simulator.control import handle_control  # noqa: PLC0415 - keeps modules apart

        status, payload = handle_control(self.sim, method, path, self.query, self.json_body)
        self.send_json(status, payload)


__all__ = ["ENDPOINTS", "FoxReloadSimulator", "ItemRequest"]
