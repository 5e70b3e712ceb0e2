"""The saved CloudWatch Logs Insights queries shipped with the stack: one order's journey across
the poller and sweeper log groups, and dead letters by reason from the poller's."""

from __future__ import annotations

from typing import Any

from stacks import relay_construct
from tests.infrastructure.synth_helpers import Synth


def _queries(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        q["Properties"]["Name"]: q["Properties"]
        for q in synth.resources("AWS::Logs::QueryDefinition").values()
    }


def _group_ref(synth: Synth, function: Any) -> Any:
    return synth.resolve(function.log_group.log_group_name)


def test_order_journey_query_reads_the_poller_and_sweeper_log_groups(synth: Synth) -> None:
    relay = synth.stack.relay
    name = f"{synth.config.stack_name}/{relay_construct.JOURNEY_QUERY}"
    query = _queries(synth)[name]
    groups = query["LogGroupNames"]
    expected = [_group_ref(synth, relay.poller)]
    if relay.sweeper is not None:
        expected.append(_group_ref(synth, relay.sweeper))
    assert groups == expected
    text = query["QueryString"]
    assert f'filter order_id = "{relay_construct.ORDER_ID_PLACEHOLDER}"' in text
    assert "sort @timestamp asc" in text
    for field in ("actor", "webhook_status", "latency_ms"):  # the attempt lines' keys
        assert field in text


def test_dead_letters_by_reason_query_reads_the_poller_log_group(synth: Synth) -> None:
    relay = synth.stack.relay
    name = f"{synth.config.stack_name}/{relay_construct.DEAD_LETTERS_QUERY}"
    query = _queries(synth)[name]
    assert query["LogGroupNames"] == [_group_ref(synth, relay.poller)]
    text = query["QueryString"]
    # the poller's line is "dead-lettered: <reason>: <detail>" (relay.service.order_relay)
    assert 'parse message "dead-lettered: *: *" as reason, detail' in text
    assert "by reason" in text


def test_only_the_two_queries_exist(synth: Synth) -> None:
    assert sorted(_queries(synth)) == sorted(
        f"{synth.config.stack_name}/{q}"
        for q in (relay_construct.JOURNEY_QUERY, relay_construct.DEAD_LETTERS_QUERY)
    )
