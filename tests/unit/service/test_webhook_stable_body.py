"""One Idempotency-Key, one body (README, "Delivery webhook"). A retried delivery (503, then 200, with FoxReload
polled again in between) sends byte-identical bodies whose `occurred_at` is when the relay first
saw the order terminal; only the signatures' timestamps move. Both attempts verify with the
standardwebhooks and stripe libraries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import standardwebhooks
import stripe

from relay.names import Ledger
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import WEBHOOK_SECRET, fox_reply, make_visible, process

OID = "5b0e9a52-8c51-4d4e-9a57-2f3c1b1e0d11"
BODY = json.dumps({"v": 1, "order_id": OID, "storefront_ref": "cart-7"})


def test_a_retried_delivery_sends_the_same_bytes(world):
    world.storefront.statuses = [503, 200]
    route = world.router.get(f"http://foxreload.test/api/orders/{OID}")
    route.mock(return_value=fox_reply(OID, "completed", ("CODE-1",)))
    world.send(BODY)
    [record] = world.receive()
    [first] = process(world, [record])
    assert isinstance(first, Rescheduled) and first.reason == "webhook_retry"
    world.clock.advance(42.0)
    make_visible(world, record)
    [record] = world.receive()
    assert process(world, [record]) == ["order.delivered"]
    assert route.call_count == 2  # the retry re-read the order (codes are never stored)

    one, two = world.storefront.requests
    assert one.content == two.content
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == f"{OID}:order.delivered"
    assert one.headers["Idempotency-Key"] == one.headers["webhook-id"]
    assert int(two.headers["webhook-timestamp"]) - int(one.headers["webhook-timestamp"]) == 42
    seen = float(world.ledger_item(OID)[Ledger.TERMINAL_SEEN_AT]["N"])
    occurred = json.loads(one.content)["occurred_at"]
    assert datetime.fromisoformat(occurred) == datetime.fromtimestamp(seen, UTC)

    # a plain (non-whsec_) secret: Standard Webhooks libraries take its bytes as the key
    verifier = standardwebhooks.Webhook(WEBHOOK_SECRET.encode())
    for request in (one, two):
        headers = dict(request.headers)
        assert verifier.verify(request.content, headers)["order_id"] == OID
        assert stripe.WebhookSignature.verify_header(
            request.content.decode(), headers["x-relay-signature"], WEBHOOK_SECRET, 300
        )
