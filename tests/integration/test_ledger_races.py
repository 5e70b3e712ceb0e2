"""The ledger's exactly-once guarantees against Amazon DynamoDB Local, which (unlike in-process
moto) really evaluates each conditional write atomically: many workers race, one wins."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from relay.adapters.coordination import CoordinationTable
from relay.adapters.dynamo_expressions import UpdateExpression
from relay.adapters.ledger import (
    ClaimRequest,
    ClaimStatus,
    LedgerTable,
    OutcomeRequest,
    TerminalSight,
)
from relay.domain.events import Event
from relay.domain.poll_allowance import Allowance
from relay.domain.rate_budget import budget_within_limit
from relay.names import Ledger
from tests.unit.service.relay_world import create_ledger_table

pytestmark = pytest.mark.wire
WORKERS = 16


def race(worker, count=WORKERS):
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        barrier.wait(timeout=10)
        results[i] = worker(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.fixture
def ledger(stack):
    """A table of its own in the stack's DynamoDB Local, so the races leave no trace behind."""
    assert stack.emulators.uses_dynamodb_local
    client = stack.client("dynamodb")
    name = f"races-{uuid.uuid4().hex[:8]}"
    create_ledger_table(client, name)
    client.get_waiter("table_exists").wait(TableName=name)
    yield LedgerTable(client, name), client, name
    client.delete_table(TableName=name)


def test_only_one_of_many_concurrent_claims_wins(ledger):
    table, _, _ = ledger
    order_id = f"race-{uuid.uuid4().hex[:12]}"
    now = time.time()
    table.touch(order_id, sent_at=now, storefront_ref=None, now=now)
    claims = race(
        lambda i: table.claim(
            ClaimRequest(
                order_id=order_id,
                owner=f"worker-{i}",
                now=now,
                lease_seconds=45.0,
                sight=TerminalSight(seen_at=now, total_price=10.0),
            )
        )
    )
    assert [c.status for c in claims].count(ClaimStatus.CLAIMED) == 1
    assert all(c.status is ClaimStatus.BUSY for c in claims if c.status is not ClaimStatus.CLAIMED)


def test_only_one_mark_records_the_outcome_after_lease_takeover(ledger):
    table, _, _ = ledger
    order_id = f"mark-{uuid.uuid4().hex[:12]}"
    now = time.time()
    table.touch(order_id, sent_at=now, storefront_ref=None, now=now)
    assert (
        table.claim(
            ClaimRequest(
                order_id=order_id,
                owner="old",
                now=now,
                lease_seconds=1.0,
                sight=TerminalSight(seen_at=now),
            )
        ).status
        is ClaimStatus.CLAIMED
    )
    later = now + 5  # the old lease expired: a new worker takes over
    assert (
        table.claim(
            ClaimRequest(
                order_id=order_id,
                owner="new",
                now=later,
                lease_seconds=45.0,
                sight=TerminalSight(seen_at=now),
            )
        ).status
        is ClaimStatus.CLAIMED
    )
    marks = race(
        lambda i: table.mark_terminal(
            OutcomeRequest(
                order_id=order_id,
                owner="new" if i % 2 else "old",
                event=Event.DELIVERED,
                now=later,
                total_price=10.0,
                cancel_reason=None,
                last_status="completed",
            )
        ),
        count=8,
    )
    assert marks.count(True) == 1
    assert table.get(order_id).outcome == "delivered"
    assert (
        table.claim(
            ClaimRequest(
                order_id=order_id,
                owner="late",
                now=later + 100,
                lease_seconds=45.0,
                sight=TerminalSight(seen_at=now),
            )
        ).status
        is ClaimStatus.ALREADY_DONE
    )


def test_shared_budget_grants_no_more_than_the_burst_under_contention(ledger):
    _, client, name = ledger
    from relay.service.poll_gate import PollGate
    from relay.settings import PollerSettings

    coordination = CoordinationTable(client, name)
    settings = PollerSettings(
        foxreload_base_url="http://unused",
        foxreload_api_key_secret="k",
        ledger_table=name,
        orders_queue_url="q",
        dlq_url="d",
        sink_webhook_url="http://unused",
        sink_webhook_secret="s",
        allow_insecure_http=True,
    )
    # Three invocations (one gate each, as in three Lambda environments), eight records each:
    # each gate serves its queued records in one conditional write, and the gates' group
    # writes race each other on the one item.
    gates = [PollGate(settings, coordination) for _ in range(3)]
    budget = budget_within_limit()
    frozen = time.time() + 10_000  # one instant: no refill during the race
    grants = race(lambda i: gates[i % 3].take(budget, frozen), count=24)
    assert sum(g.granted for g in grants) <= budget.burst
    assert sum(g.granted for g in grants) >= 1
    assert all(g.wait > 0 for g in grants if not g.granted)
    stored = coordination.read_bucket()
    assert stored.state is not None
    left = stored.state.new.bucket.tokens + stored.state.old.bucket.tokens
    # What the item says was spent is what was granted: no group's grants went unrecorded.
    assert budget.burst - left == pytest.approx(sum(g.granted for g in grants), abs=0.01)


def test_the_expression_builder_is_valid_dynamodb_for_reserved_and_odd_names(ledger):
    """DynamoDB Local parses what the builder writes: reserved words and names a raw
    expression could not hold, every clause kind, conditions on the same placeholders."""
    _, client, name = ledger
    key = {Ledger.PARTITION_KEY: {"S": f"expr-{uuid.uuid4().hex[:12]}"}}
    odd = ["interval", "status", "a b", "x.y", "#hash", ":colon"]
    first = UpdateExpression().add("count", {"N": "1"}).remove("gone")
    for i, attribute in enumerate(odd):
        first.set_if_absent(attribute, {"N": str(i)})
    first.condition(f"attribute_not_exists({first.name('status')})")
    client.update_item(TableName=name, Key=key, **first.arguments())

    second = UpdateExpression().set("interval", {"N": "99"}).set_if_absent("a b", {"N": "99"})
    second.add("count", {"N": "2"}).remove("x.y")
    status = second.name("status")
    second.condition(f"{status} = {second.value({'N': '1'})}")
    client.update_item(TableName=name, Key=key, **second.arguments())
    item = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
    assert {a: v["N"] for a, v in item.items() if a != Ledger.PARTITION_KEY} == {
        "interval": "99",
        "status": "1",
        "a b": "2",  # if_not_exists kept the first value
        "#hash": "4",
        ":colon": "5",
        "count": "3",
    }

    third = UpdateExpression().set("interval", {"N": "0"})
    third.condition(f"{third.name('status')} = {third.value({'N': '7'})}")
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.update_item(TableName=name, Key=key, **third.arguments())


def test_a_429_revocation_racing_the_sweepers_grant_always_stands(ledger):
    """Pollers revoke the unmetered allowance (a 429) while the sweeper grants it from what it
    read before: whatever the interleaving, the item ends revoked, never granted over it."""
    _, client, name = ledger
    coordination = CoordinationTable(client, name)
    now = time.time()
    read = Allowance()  # what the sweeper read: never revoked

    def worker(i):
        if i % 2:
            coordination.revoke_allowance(now + i)
            return None
        return coordination.write_allowance(Allowance(now + 150.0), read)

    race(worker)
    coverage = coordination.read_coverage()
    assert coverage is not None and coverage.allowance.revoked_at is not None
    # a grant could only have landed before every revocation, which then ended it
    assert not coverage.allowance.unmetered(now)
    # and from the revocation it read, the sweeper may grant again (after its hold)
    assert coordination.write_allowance(Allowance(now + 150.0), coverage.allowance)
    assert coordination.read_coverage().allowance.unmetered(now)
