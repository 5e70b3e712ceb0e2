"""The sandbox control API under /_sim/: script orders, change faults, read stats, move time.

No API key and no rate limit, and never faulted: it is for the developer and the test harness
driving the sandbox, not part of FoxReload's API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.clock import real_seconds
from simulator.sandbox import ApiError, iso

if TYPE_CHECKING:
    from simulator.server import FoxReloadSimulator

MAX_BATCH = 10_000
_ORDER = re.compile(r"^/_sim/orders/(?P<id>[^/]+)/?$")


def _object(read_body: Callable[[], Any]) -> dict[str, Any]:
    body = read_body()
    if not isinstance(body, dict):
        raise ApiError(400, "ValidationError", "body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, "ValidationError", f"{name} must be a number")
    return float(value)


def _create_orders(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    count = body.get("count")

    def one() -> dict[str, Any]:
        return sim.create_order(
            body.get("items"),
            paid=bool(body.get("paid", True)),
            charge=bool(body.get("charge", True)),
            timeline=body.get("timeline"),
            responses=body.get("responses"),
            item_error=body.get("itemError"),
            failed_items=body.get("failedItems"),
        )

    if count is None:
        return 201, one()
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
        raise ApiError(400, "ValidationError", f"count must be an integer 1-{MAX_BATCH}")
    orders = [one() for _ in range(count)]
    return 201, {"items": orders, "total": len(orders)}


def _faults(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    changes = dict(body)
    name = changes.pop("profile", None)
    try:
        base = sim.set_faults(name) if isinstance(name, str) else sim.faults
        prof = sim.set_faults(base, **changes) if changes else base
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "ValidationError", str(exc)) from None
    return 200, prof.to_json()


def _config(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    try:
        if "rateLimitPerMinute" in body:
            sim.set_rate_limit(int(body["rateLimitPerMinute"]))
        for key, limit in (body.get("keyRateLimits") or {}).items():
            sim.set_rate_limit(int(limit), key=str(key))
        if "apiKeys" in body:
            keys = body["apiKeys"]
            if not isinstance(keys, list) or not keys:
                raise ValueError("apiKeys must be a non-empty list")
            sim.api_keys = {str(k) for k in keys}
        if "v1Balance" in body:
            sim.v1_balance_enabled = bool(body["v1Balance"])
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "ValidationError", str(exc)) from None
    return 200, sim.config_json()


def _clock(sim: FoxReloadSimulator) -> dict[str, Any]:
    now = sim.clock.now()
    return {
        "now": iso(now),
        "epoch": now,
        "timeScale": sim.clock.scale,
        "realSecondsPerMinute": real_seconds(sim.clock, 60.0),
    }


def _order_view(sim: FoxReloadSimulator, order_id: str) -> tuple[int, Any]:
    return 200, sim.sandbox.order(order_id).internal_json(sim.clock.now())


def _balance(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    return 200, {
        "balance": sim.set_balance(_number(body, "balance")),
        "currency": sim.config.currency,
    }


def _advance(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    seconds = _number(body, "advance")
    if seconds < 0:
        raise ApiError(400, "ValidationError", "time only moves forward")
    sim.advance(seconds)
    return 200, _clock(sim)


def _reset_stats(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    sim.stats.reset()
    return 200, sim.stats_snapshot()


def _reset(sim: FoxReloadSimulator, body: dict[str, Any]) -> tuple[int, Any]:
    sim.reset()
    return 200, {"reset": True}


_GETS: dict[str, Callable[[FoxReloadSimulator], Any]] = {
    "/_sim/orders": lambda sim: {
        "ids": sim.sandbox.order_ids(),
        "byStatus": sim.sandbox.counts_by_status(),
    },
    "/_sim/faults": lambda sim: sim.faults.to_json(),
    "/_sim/stats": lambda sim: sim.stats_snapshot(),
    "/_sim/balance": lambda sim: {"balance": sim.balance(), "currency": sim.config.currency},
    "/_sim/clock": _clock,
    "/_sim/config": lambda sim: sim.config_json(),
}
_POSTS: dict[str, Callable[[FoxReloadSimulator, dict[str, Any]], tuple[int, Any]]] = {
    "/_sim/orders": _create_orders,
    "/_sim/faults": _faults,
    "/_sim/stats/reset": _reset_stats,
    "/_sim/balance": _balance,
    "/_sim/clock": _advance,
    "/_sim/config": _config,
    "/_sim/reset": _reset,
}


def handle_control(
    sim: FoxReloadSimulator,
    method: str,
    path: str,
    query: dict[str, str],
    read_body: Callable[[], Any],
) -> tuple[int, Any]:
    """Route one /_sim/ request; returns (status, JSON payload)."""
    path = path.rstrip("/") or "/"
    if method == "GET" and path in _GETS:
        return 200, _GETS[path](sim)
    if method == "GET" and (found := _ORDER.match(path)):
        return _order_view(sim, found["id"])
    if method == "POST" and path in _POSTS:
        return _POSTS[path](sim, _object(read_body))
    raise ApiError(404, "NotFound", f"no control endpoint {method} {path}")
