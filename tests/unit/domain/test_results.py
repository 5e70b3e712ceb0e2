"""The result vocabulary: a process result names either a webhook event or why none was sent."""

from __future__ import annotations

import typing

from relay.domain.events import Event
from relay.domain.results import DeliveryOutcome, ProcessResult, Settled


def test_a_process_result_is_an_event_or_a_settled_reason():
    assert set(typing.get_args(ProcessResult)) == {Event, Settled}


def test_settled_reasons_never_read_as_an_event():
    # The handler's result is logged by value: a reason spelled like an event would lie.
    assert not {s.value for s in Settled} & {e.value for e in Event}


def test_delivery_outcomes_have_distinct_values():
    assert len({o.value for o in DeliveryOutcome}) == len(DeliveryOutcome)
