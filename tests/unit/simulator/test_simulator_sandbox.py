"""The simulated account without HTTP: orders, payment, balance, refunds, listing."""

import re

import pytest

from relay.domain.foxreload_order import parse_order
from simulator.clock import ManualClock
from simulator.config import SimulatorConfig
from simulator.sandbox import (
    ApiError,
    ItemRequest,
    Sandbox,
    parse_items,
    parse_responses,
    parse_script,
)
from simulator.timeline import TimingModel

CODE = re.compile(r"^FOX-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$")


def make(balance=100.0, timing=None, **kw):
    clock = ManualClock()
    config = SimulatorConfig(
        initial_balance=balance, timing=timing or TimingModel.fast(), seed=1, **kw
    )
    return Sandbox(config, clock), clock


def test_order_lifecycle_codes_only_when_completed():
    box, clock = make()
    order = box.create_order([ItemRequest("steam-10", 2), ItemRequest("psn-20", 1, "gift")])
    view = order.to_json(clock.now())
    assert view["status"] == "active"
    assert view["totalPrice"] == pytest.approx(41.9)
    assert all(item["externalData"] == [] for item in view["items"])
    assert view["createdAt"].endswith("Z") and view["paymentExpiresAt"].endswith("Z")
    box.pay(order.id)
    assert box.balance() == pytest.approx(100 - 41.9)
    seen = [box.order_json(order.id)["status"]]
    for _ in range(40):
        clock.advance(0.25)
        seen.append(box.order_json(order.id)["status"])
    assert seen[0] == "paid" and seen[-1] == "completed" and "processing" in seen
    done = box.order_json(order.id)
    codes = [c for item in done["items"] for c in item["externalData"]]
    assert len(codes) == 3 and all(CODE.match(c) for c in codes)
    parsed = parse_order(done)
    assert parsed.is_terminal and parsed.code_count == 3


def test_balance_not_enough_leaves_order_active():
    box, clock = make(balance=5.0)
    order = box.create_order([ItemRequest("steam-10", 1)])
    with pytest.raises(ApiError) as err:
        box.pay(order.id)
    assert err.value.status == 400 and err.value.error == "BalanceNotEnough"
    assert err.value.body()["required"] == pytest.approx(10.5)
    assert box.order_json(order.id)["status"] == "active"
    box.topup(10)
    box.pay(order.id)
    assert box.balance() == pytest.approx(4.5)


def test_pay_twice_and_pay_after_expiry():
    box, clock = make()
    order = box.create_order([ItemRequest("robux-800")])
    box.pay(order.id)
    with pytest.raises(ApiError) as err:
        box.pay(order.id)
    assert err.value.status == 409
    late = box.create_order([ItemRequest("robux-800")])
    clock.advance(901)
    view = box.order_json(late.id)
    assert (view["status"], view["cancelReason"]) == ("cancelled", "payment_expiration")
    with pytest.raises(ApiError) as err:
        box.pay(late.id)
    assert err.value.error == "PaymentExpired"


def test_failed_orders_refund_when_they_fail_not_when_read():
    box, clock = make(timing=TimingModel(failed_share=1.0, cancelled_share=0, stuck_share=0))
    order = box.create_order([ItemRequest("steam-50"), ItemRequest("mobile-5")])
    box.pay(order.id)
    assert box.balance() == pytest.approx(100 - 57.0)
    clock.advance(10_000)  # nobody looked at the order meanwhile
    assert box.balance() == pytest.approx(100)
    view = box.order_json(order.id)
    assert view["status"] == "failed"
    assert all(item["error"] and item["externalData"] == [] for item in view["items"])


def test_partial_item_error_completes_the_rest():
    box, clock = make(
        timing=TimingModel(
            failed_share=0, cancelled_share=0, stuck_share=0, partial_item_error_share=1.0
        )
    )
    order = box.create_order([ItemRequest("steam-10"), ItemRequest("psn-20")])
    box.pay(order.id)
    clock.advance(10_000)
    items = box.order_json(order.id)["items"]
    assert sorted(bool(i["error"]) for i in items) == [False, True]
    assert all(bool(i["externalData"]) != bool(i["error"]) for i in items)


def test_list_is_newest_first_paginated_and_filtered():
    box, clock = make(balance=10_000)
    ids = []
    for n in range(25):
        ids.append(box.create_order([ItemRequest("mobile-5")]).id)
        clock.advance(1)
        if n % 5 == 0:
            box.pay(ids[-1])
    page1 = box.list_orders(None, 1, 10)
    assert (page1["page"], page1["limit"], page1["total"]) == (1, 10, 25)
    assert [o["id"] for o in page1["items"]] == ids[::-1][:10]
    page3 = box.list_orders(None, 3, 10)
    assert [o["id"] for o in page3["items"]] == ids[::-1][20:]
    assert box.list_orders(None, 4, 10)["items"] == []
    clock.advance(100)
    completed = box.list_orders("completed", 1, 100)
    assert completed["total"] == 5 and all(o["status"] == "completed" for o in completed["items"])
    assert box.list_orders(None, 1, 1000)["limit"] == 100
    with pytest.raises(ApiError):
        box.list_orders("bogus", 1, 10)
    with pytest.raises(ApiError):
        box.list_orders(None, 0, 10)


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"itemId": "steam-10"}] * 11,
        [{"itemId": "nope"}],
        [{"itemId": "steam-10", "quantity": 0}],
        [{"itemId": "steam-10", "quantity": "2"}],
        [{"quantity": 1}],
        "x",
        [{"itemId": "steam-10", "note": 3}],
    ],
)
def test_create_validation(items):
    with pytest.raises(ApiError):
        parse_items(items)


def test_price_mismatch_and_parse_helpers():
    box, _ = make()
    with pytest.raises(ApiError) as err:
        box.create_order([ItemRequest("steam-10")], 1.0)
    assert err.value.error == "PriceMismatch"
    assert box.create_order([ItemRequest("steam-10")], 10.5).total_price == 10.5
    assert parse_script(
        [["processing", 0], {"status": "cancelled", "at": 2, "cancelReason": "user_request"}]
    ) == [("processing", 0.0, None), ("cancelled", 2.0, "user_request")]
    assert parse_responses([404, 500, "malformed", "timeout", "order"]) == [
        404,
        500,
        "malformed",
        "timeout",
        "order",
    ]
    with pytest.raises(ApiError):
        parse_responses(["explode"])
    with pytest.raises(ApiError):
        parse_script([["processing"]])


def test_scripted_order_follows_its_script_and_is_not_planned_by_the_model():
    box, clock = make()
    order = box.create_order(
        [ItemRequest("steam-10")],
        script=[("processing", 0, None), ("completed", 2.0, None)],
        responses=[404, "malformed"],
    )
    assert box.order_json(order.id)["status"] == "processing"
    assert box.next_scripted_response(order.id) == 404
    assert box.next_scripted_response(order.id) == "malformed"
    assert box.next_scripted_response(order.id) is None
    clock.advance(2)
    assert box.order_json(order.id)["status"] == "completed"


def test_same_seed_same_orders():
    a, _ = make()
    b, _ = make()
    oa, ob = (
        a.create_order([ItemRequest("steam-10", 3)]),
        b.create_order([ItemRequest("steam-10", 3)]),
    )
    assert oa.id == ob.id and oa.items[0].codes == ob.items[0].codes


def _epoch(iso_text):
    from datetime import datetime

    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def test_an_accelerated_sandbox_reports_instants_on_the_clients_clock():
    """At x10, 60 simulated seconds are 6 reported seconds: createdAt, the listing and top-ups
    are on the caller's clock, so a client ages orders in its own seconds."""
    clock = ManualClock(start=1_700_000_000.0, scale=10.0)
    box = Sandbox(SimulatorConfig(initial_balance=100.0, timing=TimingModel.fast(), seed=1), clock)
    first = box.create_order([ItemRequest("steam-10", 1)])
    clock.advance(60.0)
    second = box.create_order([ItemRequest("steam-10", 1)])
    listed = {o["id"]: _epoch(o["createdAt"]) for o in box.list_orders(None, 1, 10)["items"]}
    assert listed[first.id] == pytest.approx(1_700_000_000.0, abs=1e-3)
    assert listed[second.id] - listed[first.id] == pytest.approx(6.0, abs=1e-3)
    view = box.order_json(second.id)
    expires = _epoch(view["paymentExpiresAt"]) - _epoch(view["createdAt"])
    assert expires == pytest.approx(box.timing.payment_window / 10, abs=1e-3)
    topup = box.topup(5)
    assert _epoch(topup["createdAt"]) == pytest.approx(clock.relay_time(clock.now()), abs=1e-3)
    # the control view keeps simulated time: 60 s after the first order, not 6
    internal = _epoch(second.internal_json(clock.now())["order"]["createdAt"])
    assert internal - listed[first.id] == pytest.approx(60.0, abs=1e-3)


def test_the_scaled_clock_reports_real_time_and_divides_durations():
    from simulator.clock import ScaledClock

    clock = ScaledClock(scale=20.0, start=1_000.0)
    now = clock.now()
    assert clock.relay_time(now) == pytest.approx(1_000.0 + (now - 1_000.0) / 20, abs=1e-6)
    assert clock.relay_time(now) - clock.relay_time(now - 200.0) == pytest.approx(10.0)
    before = clock.relay_time(now)
    clock.advance(3600.0)  # a jump ages what is already there by jump / scale; now stays real
    assert clock.relay_time(now) == pytest.approx(before - 180.0)
    assert clock.relay_time(clock.now()) == pytest.approx(before, abs=0.5)
