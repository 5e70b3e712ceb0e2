"""The receiver's decision logic without HTTP (handle() is what the HTTP handler calls)."""

import json

from local_stack.storefront_receiver import StorefrontReceiver
from relay.domain.webhook import sign

SECRET = "whsec-test"
NOW = 1_700_000_000


def request(
    order_id="o-1", event="order.delivered", secret=SECRET, t=NOW, codes=("FOX-AAAA-BBBB-CCCC",)
):
    body = json.dumps(
        {
            "event": event,
            "order_id": order_id,
            "storefront_ref": "ref",
            "status": "completed",
            "items": [{"item_id": "steam-10", "codes": list(codes), "error": None}],
            "cancel_reason": None,
            "occurred_at": "x",
        }
    ).encode()
    headers = {"x-relay-signature": sign(secret, t, body), "idempotency-key": f"{order_id}:{event}"}
    return headers, body


def make(**kw):
    return StorefrontReceiver(SECRET, clock=lambda: NOW, **kw)


def test_accepts_valid_and_counts_duplicates():
    rx = make()
    assert rx.handle(*request())[0] == 200
    assert rx.handle(*request())[0] == 200  # same key again: accepted (idempotent) but counted
    assert rx.handle(*request(order_id="o-2"))[0] == 200
    assert rx.duplicate_count() == 1
    assert rx.duplicates() == {"o-1:order.delivered": 1}
    assert rx.delivered_order_ids() == {"o-1", "o-2"}
    assert [d.duplicate for d in rx.deliveries()] == [False, True, False]
    assert rx.deliveries()[0].code_count == 1
    assert rx.deliveries()[0].codes() == [["FOX-AAAA-BBBB-CCCC"]]
    assert "FOX-" not in repr(rx.deliveries()[0])


def test_rejects_bad_signature_stale_or_missing():
    rx = make()
    headers, body = request(secret="wrong")
    assert rx.handle(headers, body)[0] == 401
    headers, body = request(t=NOW - 3600)
    assert rx.handle(headers, body)[0] == 401
    headers, body = request()
    assert rx.handle(headers, body + b" ")[0] == 401  # body tampered
    assert rx.handle({"idempotency-key": "k"}, body)[0] == 401
    assert rx.stats()["badSignature"] == 4 and rx.deliveries() == []


def test_missing_idempotency_key_is_a_bad_request():
    rx = make()
    headers, body = request()
    del headers["idempotency-key"]
    assert rx.handle(headers, body)[0] == 400


def test_scripted_statuses_then_default_and_retries_are_not_duplicates():
    rx = make()
    rx.script([503, 503])
    assert [rx.handle(*request())[0] for _ in range(3)] == [503, 503, 200]
    assert rx.duplicate_count() == 0
    rx.script([400], order_id="o-9")
    assert rx.handle(*request(order_id="o-1"))[0] == 200
    assert rx.handle(*request(order_id="o-9"))[0] == 400
    assert rx.handle(*request(order_id="o-9"))[0] == 200
    stats = rx.stats()
    assert stats["scriptedStatuses"] == {"503": 2, "400": 1}
    assert stats["duplicates"] == 1  # o-1 accepted twice
    assert stats["ordersDelivered"] == 2


def test_wait_for_returns_when_enough_orders_arrived():
    rx = make()
    assert rx.wait_for(1, timeout=0.05) is False
    rx.handle(*request())
    assert rx.wait_for(1, timeout=0.05) is True
