"""The poller's partial batch response: concurrency, failures, the event loop, record fields."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relay.handlers import poller, sqs_batch
from relay.handlers.sqs_batch import handle_batch, records_of, run_in_loop


def record(message_id: str, **attributes: str) -> dict[str, Any]:
    attrs = {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000123", **attributes}
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": '{"v":1,"order_id":"x"}',
        "attributes": attrs,
    }


def test_the_records_whose_handler_raised_are_the_failures_in_order() -> None:
    async def handle(r: Any) -> str:
        if r["messageId"] in ("b", "d"):
            raise RuntimeError("reschedule")
        return "ok"

    records = [record(m) for m in "abcd"]
    response = asyncio.run(handle_batch(records, handle))
    assert response == {"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]}


def test_a_batch_in_which_every_record_failed_is_still_an_answer() -> None:
    async def handle(r: Any) -> None:
        raise ValueError(r["messageId"])

    response = asyncio.run(handle_batch([record("a"), record("b")], handle))
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["a", "b"]


def test_records_are_handled_concurrently() -> None:
    # Each handler waits until all have started: handled one after another, this never ends.
    started = 0
    everyone = asyncio.Event()

    async def handle(r: Any) -> None:
        nonlocal started
        started += 1
        if started == 3:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), timeout=2)

    async def main() -> Any:
        return await handle_batch([record("a"), record("b"), record("c")], handle)

    assert asyncio.run(main()) == {"batchItemFailures": []}


def loop_of_one_call() -> asyncio.AbstractEventLoop:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    return run_in_loop(which())


def test_in_lambda_warm_invocations_share_one_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setattr(sqs_batch, "_lambda_loop", None)
    first, second = loop_of_one_call(), loop_of_one_call()
    assert first is second and not first.is_closed()
    first.close()


def test_outside_lambda_each_batch_runs_in_a_loop_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    first = loop_of_one_call()
    assert first.is_closed()  # asyncio.run closed it
    assert loop_of_one_call() is not first


def test_records_of_an_event_without_records_is_empty() -> None:
    assert records_of({}) == []
    assert records_of({"Records": "nope"}) == []
    assert records_of({"Records": [record("a")]}) == [record("a")]


def test_a_record_is_read_as_the_relay_needs_it() -> None:
    item = poller.queue_record(record("m-1"))
    assert (item.message_id, item.receipt_handle, item.receive_count) == ("m-1", "rh-m-1", 2)
    assert item.sent_at == pytest.approx(1700000000.123)


def test_a_record_without_its_send_time_fails_rather_than_guessing() -> None:
    broken = record("m-1")
    del broken["attributes"]["SentTimestamp"]
    with pytest.raises(KeyError):
        poller.queue_record(broken)
