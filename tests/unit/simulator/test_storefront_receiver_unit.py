"""The receiver's decision logic without HTTP (handle() is what the HTTP handler calls)."""

import base64
import json

import pytest

from local_stack.storefront_receiver import StorefrontReceiver
from relay.domain.webhook import sign, sign_standard

SECRET = "whsec_" + base64.b64encode(b"receiver-unit-test-key-32-bytes!").decode()
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
    key = f"{order_id}:{event}"
    headers = {
        "webhook-id": key,
        "webhook-timestamp": str(t),
        "webhook-signature": sign_standard(secret, key, t, body),
        "x-relay-signature": sign(secret, t, body),
        "idempotency-key": key,
    }
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
    assert rx.handle(dict(headers, **{"webhook-id": "o-2:order.delivered"}), body)[0] == 401
    bad_legacy = dict(headers, **{"x-relay-signature": sign("wrong", NOW, body)})
    assert rx.handle(bad_legacy, body)[0] == 401  # a wrong X-Relay-Signature is not ignored
    assert rx.handle({"x-relay-signature": headers["x-relay-signature"]}, body)[0] == 401
    assert rx.stats()["badSignature"] == 7 and rx.deliveries() == []


def test_standard_headers_alone_suffice_but_a_differing_idempotency_key_is_a_bad_request():
    rx = make()
    headers, body = request()
    del headers["idempotency-key"], headers["x-relay-signature"]
    assert rx.handle(headers, body)[0] == 200
    assert rx.deliveries()[0].idempotency_key == "o-1:order.delivered"
    headers, body = request()
    headers["idempotency-key"] = "o-1:order.failed"
    assert rx.handle(headers, body)[0] == 400


def test_accepts_either_side_of_a_rotation():
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    rotating = json.dumps({"current": new, "previous": SECRET})
    for receiver_secret in (SECRET, new, rotating):
        rx = StorefrontReceiver(receiver_secret, clock=lambda: NOW)
        assert rx.handle(*request(secret=rotating))[0] == 200
    assert make().handle(*request(secret=new))[0] == 401


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


def test_an_outage_refuses_everything_before_scripts_then_they_resume():
    rx = make()
    rx.script([500], order_id="o-1")
    rx.start_outage()
    assert rx.outage_status == 503
    assert rx.handle(*request())[0] == 503
    assert rx.handle(*request(secret="wrong"))[0] == 503  # down: nothing is looked at
    rx.end_outage()
    assert rx.outage_status is None
    assert [rx.handle(*request())[0] for _ in range(2)] == [500, 200]  # the script is intact
    stats = rx.stats()
    assert stats["outageRefused"] == 2 and stats["badSignature"] == 0
    assert stats["accepted"] == 1 and rx.duplicate_count() == 0
    rx.start_outage(400)  # a storefront refusing everything for good
    assert rx.handle(*request(order_id="o-2"))[0] == 400
    rx.reset()
    assert rx.outage_status is None


@pytest.mark.parametrize("status", [200, 204, 99, 600])
def test_an_outage_answers_with_a_failure_status_only(status):
    with pytest.raises(ValueError):
        make().start_outage(status)
