"""Malformed FoxReload prices against Amazon DynamoDB Local, which (unlike moto) refuses NaN,
Infinity and numbers past 38 digits: the claim must still succeed, so the codes are delivered."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from relay.adapters.ledger import (
    ClaimRequest,
    ClaimStatus,
    LedgerTable,
    OutcomeRequest,
    TerminalSight,
    number,
)
from relay.domain.events import Event
from relay.domain.poll_outcome import HttpReply, Kind, classify
from relay.names import Ledger
from tests.unit.service.relay_world import create_ledger_table

pytestmark = pytest.mark.wire
HOSTILE = ["NaN", "Infinity", "-Infinity", '"1e400"', "1" + "0" * 40, "-25.5", '"abc"']


@pytest.fixture(scope="module")
def ledger(stack):
    assert stack.emulators.uses_dynamodb_local
    client = stack.client("dynamodb")
    name = f"prices-{uuid.uuid4().hex[:8]}"
    create_ledger_table(client, name)
    client.get_waiter("table_exists").wait(TableName=name)
    yield LedgerTable(client, name), client, name
    client.delete_table(TableName=name)


def completed_reply(order_id: str, price: str) -> HttpReply:
    body = (
        f'{{"id": "{order_id}", "status": "completed", "totalPrice": {price}, '
        f'"items": [{{"itemId": "g", "externalData": ["CODE"]}}]}}'
    )
    json.loads(body)  # Python's json reads every one of these (as FoxReload's reply would be)
    return HttpReply(200, {}, body.encode())


def test_dynamodb_local_really_refuses_what_the_unchecked_price_would_have_written(ledger):
    _, client, name = ledger
    with pytest.raises(ClientError, match="ValidationException"):
        client.put_item(
            TableName=name,
            Item={Ledger.PARTITION_KEY: {"S": "nan-probe"}, "p": {"N": number(float("nan"))}},
        )


@pytest.mark.parametrize("price", HOSTILE)
def test_a_hostile_price_never_blocks_the_claim_and_never_reduces_spend(ledger, price):
    table, client, name = ledger
    order_id = f"price-{uuid.uuid4().hex[:12]}"
    outcome = classify(completed_reply(order_id, price), time.time())
    assert outcome.kind is Kind.COMPLETED and outcome.order is not None
    order = outcome.order
    assert order.price_ignored and order.total_price is None
    now = time.time()
    table.touch(order_id, sent_at=now - 5, storefront_ref=None, now=now)
    claim = table.claim(
        ClaimRequest(
            order_id=order_id,
            owner="w-1",
            now=now,
            lease_seconds=45.0,
            sight=TerminalSight(seen_at=now, total_price=order.total_price, charged=True),
        )
    )
    assert claim.status is ClaimStatus.CLAIMED
    assert table.mark_terminal(
        OutcomeRequest(
            order_id=order_id,
            owner="w-1",
            event=Event.DELIVERED,
            now=now,
            total_price=order.total_price,
            cancel_reason=None,
            last_status="completed",
        )
    )
    item = client.get_item(TableName=name, Key={Ledger.PARTITION_KEY: {"S": order_id}})["Item"]
    assert item[Ledger.OUTCOME]["S"] == "delivered"
    assert Ledger.TOTAL_PRICE not in item  # nothing for the spend index to subtract
    assert Ledger.CHARGED_HOUR in item  # the order is still counted as charged (price unknown)
