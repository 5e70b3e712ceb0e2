"""The event vocabulary is exhaustive: every terminal status, kind, webhook event and ledger
outcome has exactly one row in relay.domain.events, and every consumer of the vocabulary (the
poll classifier, the decision, the sweep, the ledger, the delivery metrics, the webhook body and
its schema, the bench, the local stack and the FoxReload simulator) has an answer for each one.
A status or event added to one enum and not to the table, or to the table and not to a
consumer, fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import population
from local_stack import scenario
from relay.adapters.ledger import outcome_for_event
from relay.domain.decision import Deliver, Limits, Timing, decide
from relay.domain.events import (
    CHARGED_EVENTS,
    TERMINAL_KINDS,
    TERMINAL_STATUSES,
    TERMINALS,
    Event,
    Kind,
    LedgerOutcome,
    Terminal,
    TerminalStatus,
    for_event,
    for_kind,
    for_status,
)
from relay.domain.foxreload_order import KNOWN_STATUSES, FoxOrder, OrderItem
from relay.domain.poll_outcome import HttpReply, PollOutcome, classify
from relay.domain.schedule import RelayPolicy
from relay.domain.sweep import ListedOrder
from relay.domain.webhook import signed_request
from relay.names import Metric
from simulator import timeline

SCHEMA = Path(__file__).parents[3] / "docs" / "schemas" / "webhook-payload.schema.json"
LIMITS = Limits(give_up_after=900.0, not_found_grace=60.0, auth_failure_delay=120.0)
ROWS = pytest.mark.parametrize("row", TERMINALS, ids=lambda row: row.status.value)


def _one_row_each(column: str, members: type[Kind | TerminalStatus | Event | LedgerOutcome]):
    return {member: [r for r in TERMINALS if getattr(r, column) is member] for member in members}


@pytest.mark.parametrize(
    ("column", "members"),
    [("status", TerminalStatus), ("event", Event), ("outcome", LedgerOutcome)],
)
def test_every_status_event_and_outcome_has_exactly_one_row(column, members):
    rows = _one_row_each(column, members)
    assert {member: len(found) for member, found in rows.items()} == dict.fromkeys(members, 1)


def test_every_terminal_kind_has_exactly_one_row_and_no_other_kind_has_one():
    for kind in Kind:
        terminal = PollOutcome(kind).terminal
        assert (kind in TERMINAL_KINDS) is terminal, kind
        assert len([r for r in TERMINALS if r.kind is kind]) == (1 if terminal else 0), kind
        assert (for_kind(kind) is not None) is terminal, kind


def test_lookups_and_derived_sets_agree_with_the_rows():
    assert TERMINAL_STATUSES == {r.status.value for r in TERMINALS}
    assert TERMINAL_KINDS == {r.kind for r in TERMINALS}
    assert CHARGED_EVENTS == {r.event for r in TERMINALS if r.charged}
    for row in TERMINALS:
        assert for_status(row.status.value) is row
        assert for_kind(row.kind) is row
        assert for_event(row.event.value) is row
    assert for_status("processing") is None
    with pytest.raises(KeyError):
        for_event("order.shipped")


def test_every_row_counts_its_own_relay_metric():
    metrics = {value for name, value in vars(Metric).items() if name.isupper()}
    assert {r.metric for r in TERMINALS} <= metrics
    assert len({r.metric for r in TERMINALS}) == len(TERMINALS)


def test_known_statuses_include_every_terminal_one():
    assert TERMINAL_STATUSES <= KNOWN_STATUSES


def _reply(status: str) -> HttpReply:
    item = {"itemId": "1", "externalData": ["CODE-1"], "error": None}
    body = {"id": "o-1", "status": status, "items": [item], "totalPrice": 1.5}
    return HttpReply(200, {}, json.dumps(body).encode())


def _order(row: Terminal) -> FoxOrder:
    return FoxOrder(
        "o-1", row.status.value, (OrderItem("1", ("CODE-1",), None),), 1.5, None, None, None
    )


@ROWS
def test_poll_classifier_decision_and_sweep_have_an_answer_for_every_status(row):
    outcome = classify(_reply(row.status.value))
    assert outcome.kind is row.kind
    assert outcome.terminal
    assert decide(outcome, Timing(0, 1.0), LIMITS, RelayPolicy(), 0.5) == Deliver(row.event)
    assert ListedOrder("o-1", row.status.value, 0.0).terminal
    assert _order(row).is_terminal


@pytest.mark.parametrize("kind", [k for k in Kind if k not in TERMINAL_KINDS])
def test_no_other_kind_is_delivered(kind):
    action = decide(PollOutcome(kind, status="x"), Timing(0, 1.0), LIMITS, RelayPolicy(), 0.5)
    assert not isinstance(action, Deliver)


@pytest.mark.parametrize("event", list(Event))
def test_the_ledger_records_an_outcome_for_every_event(event):
    assert outcome_for_event(event) == for_event(event).outcome
    assert outcome_for_event(event.value) == for_event(event).outcome.value  # plain text too


@ROWS
def test_the_webhook_carries_the_rows_event_and_status(row):
    request = signed_request("9f2c" * 16, _order(row), row.event, None, 1.0)
    body = json.loads(request.body)
    assert (body["event"], body["status"]) == (row.event.value, row.status.value)
    assert request.idempotency_key == f"o-1:{row.event.value}"


def test_the_webhook_schema_names_every_event_with_its_status():
    schema = json.loads(SCHEMA.read_text())
    assert schema["properties"]["event"]["enum"] == [r.event.value for r in TERMINALS]
    assert schema["properties"]["status"]["enum"] == [r.status.value for r in TERMINALS]
    pairs = [
        (rule["if"]["properties"]["event"]["const"], rule["then"]["properties"]["status"]["const"])
        for rule in schema["allOf"]
    ]
    assert pairs == [(r.event.value, r.status.value) for r in TERMINALS]


def test_the_bench_population_ends_orders_in_terminal_statuses_only():
    assert {population.COMPLETED, population.FAILED, population.CANCELLED} == TERMINAL_STATUSES


def test_the_local_stack_report_has_an_outcome_for_every_event():
    assert scenario.TERMINAL_EVENTS == {r.event.value: r.outcome.value for r in TERMINALS}
    assert set(scenario.TERMINAL_EVENTS.values()) <= set(scenario.OUTCOMES)


def test_the_foxreload_simulator_agrees_on_the_terminal_statuses():
    """The simulator stands in for FoxReload and keeps its own names on purpose (it must not
    learn FoxReload's vocabulary from the code it tests): they have to agree all the same."""
    assert timeline.TERMINAL == TERMINAL_STATUSES
    assert TERMINAL_STATUSES <= set(timeline.STATUSES)
