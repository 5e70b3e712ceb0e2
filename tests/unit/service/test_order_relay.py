"""The outcome table, end to end through OrderRelay (in-process moto + respx)."""

from __future__ import annotations

import json

import httpx

from relay.domain.events import Event
from relay.domain.hours import hour_bucket
from relay.domain.results import Settled
from relay.domain.retry_pacing import SQS_MAX_RECEIVE_COUNT, receive_bound
from relay.names import DeadLetterAttr, Ledger, Metric, api_error_metric
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import fox_reply, make_visible, process

OID = "7d1c2f0a-3b4e-4f5a-9b6c-1d2e3f4a5b6c"
BODY = json.dumps({"v": 1, "order_id": OID, "storefront_ref": "cart-42"})


def visibility_of(world, record) -> None:
    """moto keeps the message invisible after a reschedule: nothing to receive right now."""
    assert world.receive() == []


def test_completed_order_is_delivered_once_and_marked(world):
    world.fox_orders(OID, fox_reply(OID, "completed", ("CODE-AAA", "CODE-BBB")))
    world.send(BODY)
    [record] = world.receive()

    [result] = process(world, [record])
    assert result is Event.DELIVERED  # the enum member itself, not a string equal to it

    [delivery] = world.storefront.deliveries
    assert delivery["event"] == "order.delivered"
    assert delivery["storefront_ref"] == "cart-42"
    assert delivery["items"][0]["codes"] == ["CODE-AAA", "CODE-BBB"]
    assert world.storefront.keys == [f"{OID}:order.delivered"]
    item = world.ledger_item(OID)
    assert item["outcome"]["S"] == "delivered"
    assert item[Ledger.CHARGED_HOUR]["S"] == hour_bucket(float(item[Ledger.TERMINAL_SEEN_AT]["N"]))
    assert item[Ledger.TOTAL_PRICE]["N"] == "25.000"
    assert "lease_owner" not in item
    assert "CODE-AAA" not in json.dumps(item)  # codes are never stored
    assert world.metrics.counts[Metric.ORDERS_DELIVERED] == 1
    assert world.metrics.counts[Metric.ORDERS_ACCEPTED] == 1
    assert len(world.metrics.values[Metric.TIME_TO_DELIVER_SECONDS]) == 1
    assert len(world.metrics.values[Metric.DELIVERY_LAG_SECONDS]) == 1


def test_processing_order_is_rescheduled_then_delivered(world):
    world.fox_orders(OID, fox_reply(OID, "processing"), fox_reply(OID, "completed", ("C1",)))
    world.send(BODY)
    [record] = world.receive()

    [first] = process(world, [record])
    assert isinstance(first, Rescheduled)
    assert first.reason == "pending"
    visibility_of(world, record)
    assert world.storefront.deliveries == []

    make_visible(world, record)
    world.clock.advance(first.delay)
    [again] = world.receive()
    assert again.receive_count == 2
    assert process(world, [again]) == [Event.DELIVERED]
    assert len(world.storefront.deliveries) == 1
    assert world.metrics.counts[Metric.POLL_ATTEMPTS] == 2
    assert world.metrics.counts[Metric.ORDERS_ACCEPTED] == 1  # a second receive is not a new order


def test_failed_and_cancelled_are_recorded_and_notified(world):
    other = "b" * 32
    world.fox_orders(OID, fox_reply(OID, "failed"))
    world.fox_orders(other, fox_reply(other, "cancelled", cancelReason="payment_failure"))
    world.send(BODY)
    world.send(json.dumps({"v": 1, "order_id": other}))
    records = world.receive()

    assert sorted(process(world, records)) == [Event.CANCELLED, Event.FAILED]
    events = {d["order_id"]: d for d in world.storefront.deliveries}
    assert events[OID]["event"] == Event.FAILED
    assert events[other]["event"] == Event.CANCELLED
    assert events[other]["cancel_reason"] == "payment_failure"
    assert world.ledger_item(other)["outcome"]["S"] == "cancelled"
    # FoxReload charged the failed order, not the cancelled one: only it enters the spend index
    failed_item = world.ledger_item(OID)
    assert failed_item[Ledger.CHARGED_HOUR]["S"] == hour_bucket(
        float(failed_item[Ledger.TERMINAL_SEEN_AT]["N"])
    )
    assert Ledger.CHARGED_HOUR not in world.ledger_item(other)
    assert world.metrics.counts[Metric.ORDERS_FAILED] == 1
    assert world.metrics.counts[Metric.ORDERS_CANCELLED] == 1
    assert world.metrics.counts[Metric.BALANCE_FAILURE_SIGNALS] == 1


def test_429_retry_after_is_honoured(world):
    world.fox_orders(OID, httpx.Response(429, headers={"Retry-After": "37"}))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert result.reason == "throttled"
    assert result.delay >= 37
    assert world.metrics.counts[Metric.THROTTLED] == 1


def test_401_rereads_the_key_once_then_reschedules_long(world):
    route = world.fox_orders(OID, httpx.Response(401), httpx.Response(401))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert route.call_count == 2  # one re-read of the key after the first 401
    assert isinstance(result, Rescheduled)
    assert result.delay >= world.runtime.settings.auth_failure_delay_seconds
    assert world.metrics.counts[Metric.AUTH_FAILURES] == 1
    assert world.dlq() == []


def test_401s_never_end_an_order_for_deadline_and_cost_bounded_receives(world):
    """FoxReload refusing the key is the relay's problem, not the order's: it is retried, paced,
    until the supplier silence limit (deadline + delivery window), in far fewer receives than
    the queue's maxReceiveCount, and then dead-lettered as supplier_unavailable."""
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=httpx.Response(401)
    )
    settings = world.runtime.settings
    world.send(BODY)
    [record] = world.receive()
    receives = 0
    while True:
        receives += 1
        [result] = process(world, [record])
        if not isinstance(result, Rescheduled):
            break
        make_visible(world, record)
        world.clock.advance(result.delay)
        [record] = world.receive()
    assert result is Settled.DEAD_LETTERED
    assert (
        world.clock.now - record.sent_at
        >= settings.give_up_after_seconds + settings.delivery_window_seconds
    )
    bound = receive_bound(settings.give_up_after_seconds, settings.delivery_window_seconds, 4.5)
    assert receives <= bound <= SQS_MAX_RECEIVE_COUNT
    [dead] = world.dlq()
    assert dead["MessageAttributes"][DeadLetterAttr.REASON]["StringValue"] == "supplier_unavailable"


def test_404_is_retried_briefly_then_dead_lettered(world):
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=httpx.Response(404)
    )
    world.send(BODY)
    [record] = world.receive()
    [first] = process(world, [record])
    assert isinstance(first, Rescheduled)
    assert world.dlq() == []

    make_visible(world, record)
    world.clock.advance(world.runtime.settings.not_found_grace_seconds + 1)
    [record] = world.receive()
    assert process(world, [record]) == [Settled.DEAD_LETTERED]
    [dead] = world.dlq()
    assert dead["Body"] == BODY
    assert dead["MessageAttributes"][DeadLetterAttr.REASON]["StringValue"] == "not_found"
    assert world.metrics.counts[api_error_metric("NotFound")] == 2


def test_malformed_api_json_is_retried_and_counted(world):
    world.fox_orders(
        OID,
        httpx.Response(200, content=b"<html>gateway</html>"),
        httpx.Response(200, json={"id": OID}),
        fox_reply(OID, "completed", ("C1",)),
    )
    world.send(BODY)
    [record] = world.receive()
    for _ in range(2):
        [result] = process(world, [record])
        assert isinstance(result, Rescheduled)
        make_visible(world, record)
        [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    assert world.metrics.counts[api_error_metric("Malformed")] == 2
    assert world.metrics.counts[Metric.API_ERRORS] == 2


def test_5xx_and_timeouts_are_retried_with_backoff_and_counted(world):
    world.fox_orders(
        OID,
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        fox_reply(OID, "completed", ("C1",)),
    )
    world.send(BODY)
    [record] = world.receive()
    for _ in range(3):
        [result] = process(world, [record])
        assert isinstance(result, Rescheduled)
        make_visible(world, record)
        [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    for kind in ("ServerError", "Timeout", "Connection"):
        assert world.metrics.counts[api_error_metric(kind)] == 1


def test_deadline_dead_letters_with_reason_last_status_and_attempts(world):
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "processing")
    )
    world.send(BODY)
    [record] = world.receive()
    [first] = process(world, [record])
    assert isinstance(first, Rescheduled)
    make_visible(world, record)
    world.clock.now = record.sent_at + world.runtime.settings.give_up_after_seconds
    [record] = world.receive()
    assert process(world, [record]) == [Settled.DEAD_LETTERED]

    [dead] = world.dlq()
    attrs = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert dead["Body"] == BODY  # byte for byte, so a console redrive replays it exactly
    assert attrs[DeadLetterAttr.REASON] == "deadline"
    assert attrs[DeadLetterAttr.LAST_STATUS] == "processing"
    assert attrs[DeadLetterAttr.ATTEMPTS] == "2"
    assert attrs[DeadLetterAttr.ORDER_ID] == OID
    assert float(attrs[DeadLetterAttr.FIRST_SEEN]) == record.sent_at
    assert world.ledger_item(OID)["dead_letter_reason"]["S"] == "deadline"
    assert world.metrics.counts[Metric.ORDERS_DEAD_LETTERED] == 1


def test_redriven_message_gets_a_fresh_deadline_and_is_delivered(world):
    world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))
    world.clock.advance(5000)  # the first message died long ago; the redrive is a new message
    world.send(BODY)
    [record] = world.receive()
    world.clock.now = record.sent_at + 1
    assert process(world, [record]) == [Event.DELIVERED]


def test_webhook_5xx_is_retried_with_the_same_idempotency_key(world):
    world.storefront.statuses = [503]
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", ("C1",))
    )
    world.send(BODY)
    [record] = world.receive()
    [first] = process(world, [record])
    assert isinstance(first, Rescheduled)
    assert first.reason == "webhook_retry"
    assert "lease_owner" not in world.ledger_item(OID)  # released, the retry need not wait
    make_visible(world, record)
    [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    assert world.storefront.keys == [f"{OID}:order.delivered"] * 2
    assert world.metrics.counts[Metric.WEBHOOK_RETRIES] == 1


def test_webhook_4xx_is_permanent_and_dead_lettered(world):
    world.storefront.statuses = [422]
    world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))
    world.send(BODY)
    [record] = world.receive()
    assert process(world, [record]) == [Settled.DEAD_LETTERED]
    [dead] = world.dlq()
    assert dead["MessageAttributes"][DeadLetterAttr.REASON]["StringValue"] == "webhook_rejected"
    assert "422" in dead["MessageAttributes"][DeadLetterAttr.DETAIL]["StringValue"]
    # FoxReload charged it all the same: no outcome recorded, but it is in the spend index
    item = world.ledger_item(OID)
    assert "outcome" not in item
    assert Ledger.CHARGED_HOUR in item and item[Ledger.TOTAL_PRICE]["N"] == "25.000"


def test_duplicate_message_for_a_delivered_order_costs_no_api_call(world):
    route = world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))
    world.send(BODY)
    [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    world.send(BODY)  # the storefront sent it twice
    [dup] = world.receive()
    assert process(world, [dup]) == [Settled.ALREADY_DONE]
    assert route.call_count == 1
    assert len(world.storefront.deliveries) == 1
    assert world.metrics.counts[Metric.SETTLED_ORDER_MESSAGES] == 1
    assert Metric.DUPLICATE_SUPPRESSED not in world.metrics.counts  # no second worker raced


def test_active_order_past_payment_expiry_is_a_balance_signal(world):
    world.fox_orders(OID, fox_reply(OID, "active", paymentExpiresAt="2020-01-01T00:00:00Z"))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert world.metrics.counts[Metric.BALANCE_FAILURE_SIGNALS] == 1


def test_unknown_status_is_kept_polling_and_counted(world):
    world.fox_orders(OID, fox_reply(OID, "on_hold"))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert world.metrics.counts[Metric.UNKNOWN_STATUS] == 1


def test_price_is_recorded_at_claim_even_if_the_webhook_is_rejected(world):
    world.storefront.statuses = [400]
    world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))
    world.send(BODY)
    [record] = world.receive()
    assert process(world, [record]) == [Settled.DEAD_LETTERED]
    item = world.ledger_item(OID)
    assert float(item["total_price"]["N"]) == 25.0
    assert "terminal_seen_at" in item


def test_balance_not_enough_from_the_api_is_a_balance_signal(world):
    world.fox_orders(OID, httpx.Response(402, json={"error": "BalanceNotEnough"}))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert world.metrics.counts[Metric.BALANCE_FAILURE_SIGNALS] == 1


def test_an_older_message_of_a_rejected_order_is_dead_lettered_without_polling(world):
    world.storefront.statuses = [400]
    route = world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))
    world.send(BODY)
    world.send(BODY)  # a duplicate, still in flight when the storefront refuses the first
    first, second = world.receive()
    world.clock.now = max(first.sent_at, second.sent_at) + 1  # the rejection comes after both
    assert process(world, [first]) == [Settled.DEAD_LETTERED]
    assert process(world, [second]) == [Settled.DEAD_LETTERED]
    assert route.call_count == 1  # the second one settled from the ledger
    assert len(world.storefront.deliveries) == 1
    letters = world.dlq()
    reasons = [m["MessageAttributes"][DeadLetterAttr.REASON]["StringValue"] for m in letters]
    assert reasons == ["webhook_rejected", "webhook_rejected"]
    # the worker that settled from the ledger still says which status the refusal was about
    statuses = [m["MessageAttributes"][DeadLetterAttr.LAST_STATUS]["StringValue"] for m in letters]
    assert statuses == ["completed", "completed"]


def test_a_redrive_after_a_rejection_tries_again(world):
    import time as _time

    world.storefront.statuses = [400]
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", ("C1",))
    )
    world.send(BODY)
    [record] = world.receive()
    assert process(world, [record]) == [Settled.DEAD_LETTERED]
    _time.sleep(0.01)
    world.clock.advance(60)  # the storefront is fixed; on-call redrives the dead letter
    world.send(BODY)
    [redriven] = world.receive()
    world.clock.now = max(world.clock.now, redriven.sent_at + 1)
    assert process(world, [redriven]) == [Event.DELIVERED]


def test_a_reply_about_another_order_is_never_delivered(world):
    world.fox_orders(OID, fox_reply("someone-elses-order", "completed", ("C1",)))
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert world.storefront.deliveries == []
    assert world.metrics.counts[api_error_metric("Malformed")] == 1


def test_completed_without_codes_is_retried_not_delivered_empty(world):
    world.fox_orders(OID, fox_reply(OID, "completed", ()), fox_reply(OID, "completed", ("C1",)))
    world.send(BODY)
    [record] = world.receive()
    [first] = process(world, [record])
    assert isinstance(first, Rescheduled)
    assert world.storefront.deliveries == []
    make_visible(world, record)
    [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]


def test_uppercase_uuid_keys_the_ledger_and_webhook_in_one_spelling(world):
    world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))  # FoxReload answers lower case
    world.send(json.dumps({"v": 1, "order_id": OID.upper()}))
    [record] = world.receive()
    assert process(world, [record]) == [Event.DELIVERED]
    assert world.storefront.keys == [f"{OID}:order.delivered"]
    assert world.ledger_item(OID)["outcome"]["S"] == "delivered"
    assert world.ledger_item(OID.upper()) is None


def test_a_webhook_slower_than_the_lease_is_cut_short_and_retried(world):
    import asyncio
    from dataclasses import replace

    async def slow(request):
        await asyncio.sleep(3)
        return world.storefront(request)

    world.router.routes.clear()
    world.router.post("http://storefront.test/hooks/foxreload").mock(side_effect=slow)
    world.fox_orders(OID, fox_reply(OID, "completed", ("C1",)))
    settings = replace(world.runtime.settings, lease_seconds=6.0, webhook_timeout=5.0)
    world.runtime.relay.deps.settings = settings
    world.send(BODY)
    [record] = world.receive()
    [result] = process(world, [record])
    assert isinstance(result, Rescheduled)
    assert result.reason == "webhook_retry"
    assert "lease_owner" not in world.ledger_item(OID)  # released for the retry
