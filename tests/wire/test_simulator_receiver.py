"""The storefront receiver over real loopback HTTP, fed by the relay's own signing code."""

import time

import httpx
import pytest

from local_stack.storefront_receiver import StorefrontReceiver
from relay.domain.foxreload_order import parse_order
from relay.domain.webhook import signed_request
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel

pytestmark = pytest.mark.wire
SECRET = "whsec-wire"


@pytest.fixture
def rx():
    with StorefrontReceiver(SECRET) as receiver:
        yield receiver


def completed_order():
    config = SimulatorConfig(timing=TimingModel.fast(), seed=5)
    with FoxReloadSimulator(config) as sim:
        oid = httpx.post(
            f"{sim.base_url}/_sim/orders",
            json={"timeline": [["completed", 0]], "items": [{"itemId": "psn-20", "quantity": 2}]},
        ).json()["id"]
        body = httpx.get(
            f"{sim.base_url}/api/orders/{oid}", headers={"X-API-Key": sim.api_key}
        ).json()
        return parse_order(body), sim.codes(oid)


def post(rx, req):
    return httpx.post(rx.url, content=req.body, headers=req.headers, timeout=5)


def test_valid_signed_delivery_is_accepted_and_duplicates_counted(rx):
    order, codes = completed_order()
    req = signed_request(SECRET, order, "order.delivered", "sf-1", time.time())
    assert post(rx, req).status_code == 200
    again = signed_request(SECRET, order, "order.delivered", "sf-1", time.time())
    r = post(rx, again)
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert rx.delivered_order_ids() == {order.id}
    assert rx.duplicates() == {f"{order.id}:order.delivered": 1}
    assert rx.deliveries()[0].codes() == codes
    stats = httpx.get(f"{rx.base_url}/_receiver/stats").json()
    assert stats["accepted"] == 2 and stats["duplicates"] == 1 and stats["uniqueKeys"] == 1


def test_bad_signature_is_rejected(rx):
    order, _ = completed_order()
    req = signed_request("not-the-secret", order, "order.delivered", None, time.time())
    assert post(rx, req).status_code == 401
    unsigned = {k: v for k, v in req.headers.items() if k != "X-Relay-Signature"}
    assert httpx.post(rx.url, content=req.body, headers=unsigned).status_code == 401
    assert rx.deliveries() == [] and rx.stats()["badSignature"] == 2


def test_scripted_statuses_over_http(rx):
    order, _ = completed_order()
    r = httpx.post(f"{rx.base_url}/_receiver/script", json={"statuses": [503, 503]})
    assert r.status_code == 200 and r.json()["pendingScript"] == 2
    statuses = [
        post(rx, signed_request(SECRET, order, "order.delivered", None, time.time())).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert rx.duplicate_count() == 0
    rx.script([400], order_id=order.id)
    assert (
        post(rx, signed_request(SECRET, order, "order.failed", None, time.time())).status_code
        == 400
    )
    assert httpx.post(f"{rx.base_url}/_receiver/script", json={"nope": 1}).status_code == 400
    assert httpx.post(f"{rx.base_url}/_receiver/reset").json() == {"reset": True}
    assert rx.deliveries() == []


def test_an_outage_switched_over_http(rx):
    order, _ = completed_order()
    r = httpx.post(f"{rx.base_url}/_receiver/outage", json={"status": 503})
    assert r.status_code == 200 and r.json()["outage"] == 503
    req = signed_request(SECRET, order, "order.delivered", None, time.time())
    assert post(rx, req).status_code == 503
    r = httpx.post(f"{rx.base_url}/_receiver/outage", json={"status": None})
    assert r.status_code == 200 and r.json()["outage"] is None
    assert r.json()["outageRefused"] == 1
    assert post(rx, req).status_code == 200
    assert rx.delivered_order_ids() == {order.id}
    assert httpx.post(f"{rx.base_url}/_receiver/outage", json={"status": 200}).status_code == 400
    assert httpx.post(f"{rx.base_url}/_receiver/outage", json={}).status_code == 400
    assert rx.outage_status is None
