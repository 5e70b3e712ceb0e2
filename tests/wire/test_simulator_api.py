"""The FoxReload simulator over real loopback HTTP (httpx), time scaled to keep it fast."""

import json
import time

import httpx
import pytest

from relay.domain.foxreload_order import parse_order
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel

pytestmark = pytest.mark.wire
KEY = "wire-key"


@pytest.fixture
def sim():
    config = SimulatorConfig(
        api_keys=(KEY, "other-key"), time_scale=20, timing=TimingModel.fast(), seed=11
    )
    with FoxReloadSimulator(config) as s:
        yield s


@pytest.fixture
def api(sim):
    with httpx.Client(base_url=sim.base_url, headers={"X-API-Key": KEY}, timeout=5) as client:
        yield client


def test_create_pay_poll_to_completion(sim, api):
    created = api.post(
        "/api/orders/", json={"items": [{"itemId": "steam-10", "quantity": 2, "note": "n"}]}
    )
    assert created.status_code == 201
    order = created.json()
    assert order["status"] == "active" and order["totalPrice"] == 21.0
    paid = api.post(f"/api/orders/{order['id']}/pay")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    deadline = time.monotonic() + 5
    statuses = []
    while time.monotonic() < deadline:
        body = api.get(f"/api/orders/{order['id']}").json()
        statuses.append(body["status"])
        if body["status"] == "completed":
            break
        time.sleep(0.02)
    assert statuses[-1] == "completed"
    assert parse_order(body).code_count == 2
    assert body["items"][0]["externalData"] == sim.codes(order["id"])[0]
    assert sim.balance() == pytest.approx(10_000 - 21.0)
    assert sim.stats_snapshot()["orderGets"][order["id"]] == len(statuses)


def test_auth_401(sim):
    for headers in ({}, {"X-API-Key": "nope"}):
        r = httpx.get(f"{sim.base_url}/api/orders/", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    assert sim.stats_snapshot()["unauthorized"] == 2


def test_unknown_order_404(api):
    r = api.get("/api/orders/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and r.json()["error"] == "OrderNotFound"


def test_rate_limit_429_with_scaled_retry_after():
    config = SimulatorConfig(api_keys=(KEY, "other-key"), rate_limit_per_minute=5, time_scale=10)
    with FoxReloadSimulator(config) as sim, httpx.Client(base_url=sim.base_url, timeout=5) as c:
        codes = [
            c.get("/api/categories/", headers={"X-API-Key": KEY}).status_code for _ in range(7)
        ]
        assert codes == [200] * 5 + [429] * 2
        limited = c.get("/api/categories/", headers={"X-API-Key": KEY})
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 6  # 60 simulated seconds at x10
        # another key has its own budget
        assert c.get("/api/categories/", headers={"X-API-Key": "other-key"}).status_code == 200
        snap = sim.stats_snapshot()
        assert snap["rateLimited"] == 3
        assert snap["requestsByKey"] == {
            KEY: {"list_categories": 8},
            "other-key": {"list_categories": 1},
        }
        sim.advance(60)  # the window passes
        assert c.get("/api/categories/", headers={"X-API-Key": KEY}).status_code == 200


def test_balance_not_enough_then_topup(sim, api):
    httpx.post(f"{sim.base_url}/_sim/balance", json={"balance": 5})
    order = api.post("/api/orders/", json={"items": [{"itemId": "steam-10"}]}).json()
    r = api.post(f"/api/orders/{order['id']}/pay")
    assert r.status_code == 400 and r.json()["error"] == "BalanceNotEnough"
    top = api.post("/api/topups/crypto/", json={"amount": 20, "currency": "USDT"})
    assert top.status_code == 201 and top.json()["amount"] == 20
    assert api.post(f"/api/orders/{order['id']}/pay").status_code == 200
    assert api.get("/api/topups/").json()["total"] == 1
    assert sim.balance() == pytest.approx(14.5)


def test_v1_balance_is_optional(sim, api):
    assert api.get("/v1/balance").status_code == 404
    httpx.post(f"{sim.base_url}/_sim/config", json={"v1Balance": True})
    r = api.get("/v1/balance")
    assert r.status_code == 200 and r.json() == {"balance": 10_000.0, "currency": "USD"}


def test_scripted_timeline_and_responses(sim, api):
    r = httpx.post(
        f"{sim.base_url}/_sim/orders",
        json={
            "timeline": [["processing", 0], ["completed", 300.0]],
            "responses": [404, 500, "malformed", 429],
        },
    )
    assert r.status_code == 201
    oid = r.json()["id"]
    assert api.get(f"/api/orders/{oid}").status_code == 404
    assert api.get(f"/api/orders/{oid}").status_code == 500
    garbled = api.get(f"/api/orders/{oid}")
    assert garbled.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        garbled.json()
    limited = api.get(f"/api/orders/{oid}")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert api.get(f"/api/orders/{oid}").json()["status"] == "processing"
    sim.advance(300)
    assert api.get(f"/api/orders/{oid}").json()["status"] == "completed"
    stats = httpx.get(f"{sim.base_url}/_sim/stats").json()
    assert stats["orderGets"][oid] == 6 and stats["scriptedResponses"] == 4


def test_scripted_cancel_reason(sim, api):
    oid = httpx.post(
        f"{sim.base_url}/_sim/orders", json={"timeline": [["cancelled", 0, "payment_failure"]]}
    ).json()["id"]
    body = api.get(f"/api/orders/{oid}").json()
    assert (body["status"], body["cancelReason"]) == ("cancelled", "payment_failure")
    bad = httpx.post(
        f"{sim.base_url}/_sim/orders", json={"timeline": [["completed", 0], ["processing", 1]]}
    )
    assert bad.status_code == 400


def test_fault_profiles_over_the_wire(sim, api):
    oid = sim.create_order()["id"]
    r = httpx.post(f"{sim.base_url}/_sim/faults", json={"profile": "outage"})
    assert r.json()["name"] == "outage"
    outage = api.get(f"/api/orders/{oid}")
    assert outage.status_code == 503 and "Retry-After" in outage.headers
    httpx.post(f"{sim.base_url}/_sim/faults", json={"profile": "none", "malformedRate": 1.0})
    with pytest.raises(json.JSONDecodeError):
        api.get(f"/api/orders/{oid}").json()
    httpx.post(
        f"{sim.base_url}/_sim/faults",
        json={"profile": "none", "timeoutRate": 1.0, "hangSeconds": 3},
    )
    with pytest.raises(httpx.TimeoutException):
        api.get(f"/api/orders/{oid}", timeout=0.3)
    httpx.post(
        f"{sim.base_url}/_sim/faults",
        json={"profile": "none", "slowRate": 1.0, "slowMinSeconds": 0.3, "slowMaxSeconds": 0.3},
    )
    started = time.monotonic()
    assert api.get(f"/api/orders/{oid}").status_code == 200
    assert time.monotonic() - started >= 0.25
    httpx.post(f"{sim.base_url}/_sim/faults", json={"profile": "none"})
    assert api.get(f"/api/orders/{oid}").status_code == 200
    faults = sim.stats_snapshot()["faults"]
    assert faults == {"error_5xx": 1, "malformed": 1, "timeout": 1, "slow": 1}
    assert httpx.post(f"{sim.base_url}/_sim/faults", json={"profile": "nope"}).status_code == 400


def test_list_pagination_and_filter(sim, api):
    ids = [sim.create_order(paid=False)["id"] for _ in range(7)]
    done = httpx.post(
        f"{sim.base_url}/_sim/orders", json={"count": 3, "timeline": [["completed", 0]]}
    ).json()
    assert done["total"] == 3
    page = api.get("/api/orders/", params={"page": 1, "limit": 4}).json()
    assert (page["page"], page["limit"], page["total"]) == (1, 4, 10)
    assert set(page) == {"items", "page", "limit", "total"}
    everything = (
        page["items"] + api.get("/api/orders/", params={"page": 2, "limit": 4}).json()["items"]
    )
    everything += api.get("/api/orders/", params={"page": 3, "limit": 4}).json()["items"]
    assert [o["id"] for o in everything][3:] == ids[::-1]
    created = [o["createdAt"] for o in everything]
    assert created == sorted(created, reverse=True)
    active = api.get("/api/orders/", params={"status": "active", "limit": 100}).json()
    assert active["total"] == 7 and {o["id"] for o in active["items"]} == set(ids)
    assert api.get("/api/orders/", params={"limit": 500}).json()["limit"] == 100
    assert api.get("/api/orders/", params={"status": "weird"}).status_code == 400
    assert api.get("/api/orders/", params={"page": "x"}).status_code == 400


def test_create_validation_errors(api):
    assert api.post("/api/orders/", json={"items": []}).status_code == 400
    assert api.post("/api/orders/", json={"items": [{"itemId": "nope"}]}).status_code == 404
    assert (
        api.post(
            "/api/orders/", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        api.post("/api/orders/", json={"items": [{"itemId": "steam-10"}], "totalPrice": 1}).json()[
            "error"
        ]
        == "PriceMismatch"
    )
    assert api.delete("/api/orders/").status_code == 405


def test_catalog(api):
    products = api.get("/api/products/").json()["items"]
    assert products and {"id", "name", "price", "categoryId"} <= set(products[0])
    categories = {c["id"] for c in api.get("/api/categories/").json()["items"]}
    assert {p["categoryId"] for p in products} <= categories
    assert [
        p["id"] for p in api.get("/api/products/search", params={"q": "steam"}).json()["items"]
    ] == ["steam-10", "steam-50"]


def test_openapi_document(sim):
    r = httpx.get(f"{sim.base_url}/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/orders/",
        "/api/orders/{order_id}",
        "/api/orders/{order_id}/pay",
        "/api/topups/crypto/",
        "/api/products/",
        "/api/categories/",
        "/v1/balance",
    ):
        assert path in doc["paths"]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


def test_control_clock_reset_and_time_scale(sim):
    base = sim.base_url
    before = httpx.get(f"{base}/_sim/clock").json()
    after = httpx.post(f"{base}/_sim/clock", json={"advance": 3600}).json()
    assert after["epoch"] - before["epoch"] >= 3600 and after["timeScale"] == 20
    sim.create_order()
    assert sum(httpx.get(f"{base}/_sim/orders").json()["byStatus"].values()) == 1
    assert httpx.post(f"{base}/_sim/reset", json={}).json() == {"reset": True}
    assert httpx.get(f"{base}/_sim/orders").json()["ids"] == []
    assert httpx.get(f"{base}/_sim/nope").status_code == 404


def test_stop_cuts_hanging_requests_quickly():
    sim = FoxReloadSimulator(SimulatorConfig(api_keys=(KEY,))).start()
    sim.set_faults("timeouts", timeoutRate=1.0, hangSeconds=60)
    import threading

    errors = []

    def call():
        try:
            httpx.get(f"{sim.base_url}/api/categories/", headers={"X-API-Key": KEY}, timeout=10)
        except httpx.HTTPError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    sim.stop()
    worker.join(5)
    assert time.monotonic() - started < 3
    assert not worker.is_alive() and errors
