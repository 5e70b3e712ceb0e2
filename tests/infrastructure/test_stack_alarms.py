"""Alarms: docs/runbook.md's list, their settings, and `watched_metrics` matching the template.

The lead's alarm<->emitted-metric test takes `relay_watched_metrics(config)` from here and checks
each against what the handlers really emit; these tests make sure that list is what the template
deploys.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from relay.names import METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME, AlarmThreshold, Metric
from stacks.alarms import (
    Resource,
    Severity,
    alarm_name,
    alarm_specs,
    placeholder,
    relay_watched_metrics,
    watched_metrics,
)
from stacks.config import environment_config
from tests.infrastructure.synth_helpers import Synth, dumps

DESIGN_ALARMS = {
    # one runbook entry per alarm (docs/runbook.md), with the severity it names
    "DeliveryDegraded": Severity.PAGE,
    "DeadLetters": Severity.PAGE,
    "LowBalance": Severity.PAGE,
    "BalanceFailureSignals": Severity.PAGE,
    "AuthFailures": Severity.PAGE,
    "ApiErrorRate": Severity.TICKET,
    "OrdersOlderThanDeadline": Severity.TICKET,
    # ours: the monitors' missing-data choices rely on someone hearing when they fail
    "RelayFunctionErrors": Severity.TICKET,
    # ours: an estimate needs a recorded balance; without one LowBalance is silent
    "BalanceUnknown": Severity.TICKET,
    # ours: edges that degrade (slower, alarmed) instead of dead-lettering
    "StorefrontUnavailable": Severity.PAGE,
    "WebhookAuthFailures": Severity.TICKET,
    "BacklogAge": Severity.TICKET,
}
RELAY_METRIC_NAMES = {v for k, v in vars(Metric).items() if k.isupper()}


def _template_alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
    }


def _metric_stats(props: dict[str, Any]) -> list[dict[str, Any]]:
    """Each watched metric of an alarm as {Namespace, MetricName, Dimensions, Stat, Period}."""
    if "MetricName" in props:
        return [
            {
                "Namespace": props["Namespace"],
                "MetricName": props["MetricName"],
                "Dimensions": props.get("Dimensions", []),
                "Stat": props["Statistic"],
                "Period": props["Period"],
            }
        ]
    stats = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            stats.append(
                {
                    "Namespace": metric["Namespace"],
                    "MetricName": metric["MetricName"],
                    "Dimensions": metric.get("Dimensions", []),
                    "Stat": query["MetricStat"]["Stat"],
                    "Period": query["MetricStat"]["Period"],
                    "Id": query["Id"],
                }
            )
    return stats


def _expression(props: dict[str, Any]) -> str | None:
    for query in props.get("Metrics", []):
        if "Expression" in query:
            assert query["ReturnData"] is True
            return str(query["Expression"])
    return None


def test_every_design_alarm_exists_with_its_severity() -> None:
    for env in ("dev", "prod"):
        specs = alarm_specs(environment_config(env))
        assert {s.id: s.severity for s in specs} == DESIGN_ALARMS


def test_template_has_exactly_the_specified_alarms_with_their_settings(synth: Synth) -> None:
    alarms = _template_alarms(synth)
    specs = alarm_specs(synth.config)
    assert set(alarms) == {alarm_name(synth.stack.stack_name, s.id) for s in specs}
    for spec in specs:
        props = alarms[alarm_name(synth.stack.stack_name, spec.id)]
        assert props["ComparisonOperator"] == spec.compare.value
        assert props["Threshold"] == spec.threshold
        assert props["EvaluationPeriods"] == spec.evaluation_periods
        assert props["DatapointsToAlarm"] == spec.datapoints_to_alarm
        assert props["TreatMissingData"] == spec.missing.value
        # every alarm says why it treats missing data the way it does, and where the runbook is
        assert f"Missing data: {spec.missing.value}, because " in props["AlarmDescription"]
        assert f"docs/runbook.md, entry {spec.id}" in props["AlarmDescription"]
        assert _expression(props) == spec.expression
        stats = {(s["MetricName"], s["Stat"], s["Period"]) for s in _metric_stats(props)}
        assert stats == {(m.name, m.statistic, m.period_seconds) for m in spec.metrics.values()}


def test_alarm_and_ok_actions_go_to_the_topic_of_their_severity(synth: Synth) -> None:
    alarms = _template_alarms(synth)
    for spec in alarm_specs(synth.config):
        props = alarms[alarm_name(synth.stack.stack_name, spec.id)]
        topic = synth.resolve(synth.stack.relay.topics[spec.severity].topic_arn)
        assert props["AlarmActions"] == [topic]
        assert props["OKActions"] == [topic]
        assert props.get("ActionsEnabled", True) is True  # CloudFormation default: enabled


def test_watched_metrics_are_what_the_template_alarms_watch(synth: Synth) -> None:
    # Template dimension values that are references back to the placeholder they stand for.
    placeholders = {
        dumps(synth.resolve(token)): placeholder(resource)
        for resource, token in synth.stack.relay.alarm_resource_names().items()
    }
    assert set(synth.stack.relay.alarm_resource_names()) == set(Resource.deployed(synth.config))
    assert set(Resource.deployed(synth.config)) == set(Resource.ALL)  # sweeper included
    from_template = set()
    by_name = {alarm_name(synth.stack.stack_name, s.id): s.id for s in alarm_specs(synth.config)}
    for name, props in _template_alarms(synth).items():
        for stat in _metric_stats(props):
            dimensions = {
                d["Name"]: d["Value"]
                if isinstance(d["Value"], str)
                else placeholders[dumps(d["Value"])]
                for d in stat["Dimensions"]
            }
            from_template.add(
                (by_name[name], stat["Namespace"], stat["MetricName"], dumps(dimensions))
            )
    listed = {
        (m.alarm, m.namespace, m.name, dumps(dict(m.dimensions)))
        for m in watched_metrics(synth.config)
    }
    assert listed == from_template


def test_relay_metrics_carry_exactly_the_powertools_service_dimension() -> None:
    config = environment_config("prod")
    relay = relay_watched_metrics(config)
    assert {m.alarm for m in relay} == {
        "StorefrontUnavailable",
        "WebhookAuthFailures",
        "BacklogAge",
        "DeliveryDegraded",
        "LowBalance",
        "BalanceUnknown",
        "BalanceFailureSignals",
        "AuthFailures",
        "ApiErrorRate",
    }
    for metric in relay:
        assert metric.namespace == METRICS_NAMESPACE
        assert dict(metric.dimensions) == {SERVICE_DIMENSION: SERVICE_NAME}
        assert metric.name in RELAY_METRIC_NAMES
    others = [m for m in watched_metrics(config) if m.namespace != METRICS_NAMESPACE]
    assert {m.namespace for m in others} == {"AWS/SQS", "AWS/Lambda"}


def test_watched_metrics_fill_in_resource_names_when_given() -> None:
    config = environment_config("dev")
    names = {resource: f"<{resource}>" for resource in Resource.ALL}
    dead_letters = [m for m in watched_metrics(config, names) if m.alarm == "DeadLetters"]
    assert [dict(m.dimensions) for m in dead_letters] == [
        {"QueueName": f"<{Resource.DEAD_LETTER_QUEUE}>"}
    ]


def test_stuck_orders_alarm_is_the_seeds_rule_in_percent(synth: Synth) -> None:
    (spec,) = [s for s in alarm_specs(synth.config) if s.id == "DeliveryDegraded"]
    # The monitor emits StuckOrderRatio in percent (relay.names.AlarmThreshold).
    assert spec.threshold == synth.config.stuck_ratio_threshold * 100
    assert synth.config.stuck_ratio_threshold * 100 == AlarmThreshold.STUCK_RATIO_PERCENT  # seed
    (metric,) = spec.metrics.values()
    assert (metric.name, metric.statistic, metric.period_seconds) == (
        Metric.STUCK_ORDER_RATIO,
        "Maximum",
        60,
    )
    assert spec.evaluation_periods == spec.datapoints_to_alarm == 2


def test_low_balance_compares_balance_with_the_configured_multiple_of_spend(synth: Synth) -> None:
    (spec,) = [s for s in alarm_specs(synth.config) if s.id == "LowBalance"]
    multiple = synth.config.low_balance_spend_multiple
    assert multiple == AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE  # cdk.json keeps the seed's rule
    assert spec.expression is not None
    assert f"balance - {multiple:g} * FILL(spend, 0)" in spec.expression
    assert spec.compare.value == "LessThanThreshold" and spec.threshold == 0
    assert {m.name for m in spec.metrics.values()} == {Metric.ESTIMATED_BALANCE, Metric.SPEND_24H}
    period = synth.config.balance_check_minutes * 60
    assert {m.period_seconds for m in spec.metrics.values()} == {period}


def test_api_error_rate_is_errors_over_poll_attempts(synth: Synth) -> None:
    (spec,) = [s for s in alarm_specs(synth.config) if s.id == "ApiErrorRate"]
    assert spec.metrics["errors"].name == Metric.API_ERRORS
    assert spec.metrics["attempts"].name == Metric.POLL_ATTEMPTS
    assert spec.expression is not None and "FILL(errors, 0) / attempts" in spec.expression
    assert spec.threshold == synth.config.api_error_rate_threshold


def test_queue_alarms_watch_the_right_queues(synth: Synth) -> None:
    alarms = _template_alarms(synth)
    stack = synth.stack
    dlq = alarms[alarm_name(stack.stack_name, "DeadLetters")]
    assert (dlq["MetricName"], dlq["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)
    assert dlq["Dimensions"] == [
        {"Name": "QueueName", "Value": synth.resolve(stack.relay.dead_letter_queue.queue_name)}
    ]
    age = alarms[alarm_name(stack.stack_name, "OrdersOlderThanDeadline")]
    assert (age["MetricName"], age["Threshold"]) == (
        "ApproximateAgeOfOldestMessage",
        synth.config.give_up_after_seconds,
    )
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": synth.resolve(stack.relay.orders_queue.queue_name)}
    ]


def test_every_alarm_has_a_runbook_entry() -> None:
    """On-call lands on docs/runbook.md from the alarm: each alarm id is a `## <id>` heading
    with what it means, how to confirm, how to fix and when it has recovered."""
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "runbook.md").read_text()
    sections = dict((part.split("\n", 1)[0].strip(), part) for part in runbook.split("\n## ")[1:])
    for spec in alarm_specs(environment_config("prod")):
        assert spec.id in sections, f"docs/runbook.md has no '## {spec.id}'"
        body = sections[spec.id]
        for part in ("**What it means.**", "**Confirm.**", "**Fix", "**Recovered when**"):
            assert part in body, f"runbook entry {spec.id} lacks {part}"


def test_changed_thresholds_reach_both_the_alarms_and_the_monitors() -> None:
    """cdk.json's thresholds are settings, not documentation: one change moves the alarm and
    the monitors' own verdicts together."""
    config = replace(
        environment_config("prod"), stuck_ratio_threshold=0.05, low_balance_spend_multiple=3.0
    )
    specs = {s.id: s for s in alarm_specs(config)}
    assert specs["DeliveryDegraded"].threshold == 5.0
    assert specs["LowBalance"].expression is not None
    assert "balance - 3 * FILL(spend, 0)" in specs["LowBalance"].expression
    monitors = config.monitor_settings(ledger_table="t")
    assert (monitors.stuck_ratio_percent, monitors.low_balance_spend_multiple) == (5.0, 3.0)


def test_a_threshold_the_monitors_would_refuse_fails_the_synth() -> None:
    """Caught by `cdk synth`, not by a monitor crashing at every cold start after deploy."""
    from aws_cdk import App

    from relay.settings import SettingsError
    from stacks.relay_stack import RelayStack

    bad = replace(environment_config("dev"), stuck_ratio_threshold=1.5)
    with pytest.raises(SettingsError, match="STUCK_RATIO_PERCENT"):
        RelayStack(App(context={"aws:cdk:bundling-stacks": []}), bad)
