"""The completion sweeper in the stack: its function, schedule, permissions, alarm and dashboard
widget, and that `sweepEnabled: false` leaves no trace of it (and turns the pollers' sweep mode
off through the same settings)."""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import ManualArgs, lint

from relay.names import POWERTOOLS_ENVIRONMENT, Ledger, Metric
from relay.settings import PollerSettings
from stacks import relay_construct
from stacks.alarms import alarm_name, alarm_specs
from stacks.relay_construct import NAG_PACK
from tests.infrastructure.synth_helpers import Synth, dumps
from tests.infrastructure.test_stack_cfn_lint import IGNORED
from tests.infrastructure.test_stack_resources import (
    _common,
    _failed_runs,
    _grants,
    _key,
    _ledger,
    _secret_arn,
)


def _sweeper(synth: Synth) -> Any:
    assert synth.stack.relay.sweeper is not None
    return synth.stack.relay.sweeper


def test_sweeper_is_python312_arm64_on_the_shared_asset_with_its_own_role_and_logs(
    synth: Synth,
) -> None:
    stack = synth.stack
    sweeper = _sweeper(synth)
    props = synth.props(sweeper)
    assert props["Handler"] == relay_construct.SWEEPER_HANDLER == "relay.handlers.sweeper.handler"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Timeout"] == 75
    assert props["MemorySize"] == synth.config.poller_memory_mb
    assert props["Code"] == synth.props(stack.relay.poller)["Code"]
    # one runner is the lease item's job, not Lambda's (see relay_construct._sweeper)
    assert "ReservedConcurrentExecutions" not in props
    assert props["Role"] != synth.props(stack.relay.poller)["Role"]
    assert props["LoggingConfig"] != synth.props(stack.relay.poller)["LoggingConfig"]
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": synth.resolve(sweeper.function_name), "MaximumRetryAttempts": 0},
    )


def test_sweeper_environment_is_the_pollers_with_the_sweep_on(synth: Synth) -> None:
    stack = synth.stack
    env = synth.props(_sweeper(synth))["Environment"]["Variables"]
    # the pollers' settings, and where the sweeper sends itself its ticks
    assert stack.relay.sweep_ticks is not None
    assert env.pop("SWEEP_TICK_QUEUE_URL") == synth.resolve(stack.relay.sweep_ticks.queue_url)
    poller_env = dict(synth.props(stack.relay.poller)["Environment"]["Variables"])
    assert poller_env.pop("SWEEP_TICK_QUEUE_URL", "") == ""  # pollers never send ticks
    assert env == poller_env
    for name, value in POWERTOOLS_ENVIRONMENT.items():
        assert env[name] == value, name
    assert env["SWEEP_ENABLED"] == "True"
    assert float(env["FOXRELOAD_RATE_LIMIT_PER_MINUTE"]) == synth.config.rate_limit_per_minute
    parsed = PollerSettings.from_env(
        {k: (v if isinstance(v, str) else "resolved-at-deploy") for k, v in env.items()}
    )
    assert parsed.sweep_enabled is True
    assert parsed.foxreload_rate_limit_per_minute == synth.config.rate_limit_per_minute
    assert "FOXRELOAD_TIME_SCALE" not in env  # instants come on the relay's clock everywhere
    assert env["LEDGER_TABLE"] == synth.resolve(stack.relay.ledger.table_name)


def test_sweeper_runs_every_minute_without_retries(synth: Synth) -> None:
    arn = synth.resolve(_sweeper(synth).function_arn)
    rules = [
        r["Properties"]
        for r in synth.resources("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == arn
    ]
    assert len(rules) == 1
    (rule,) = rules
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    # EventBridge may invoke it (and only its own rule).
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": arn,
            "Principal": "events.amazonaws.com",
        },
    )


def test_sweeper_may_do_exactly_what_its_code_calls(synth: Synth) -> None:
    stack = synth.stack
    sweeper = _sweeper(synth)
    assert relay_construct.SWEEPER_LEDGER_ACTIONS == (
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    )
    expected = (
        _common(synth, sweeper)
        | _failed_runs(synth)
        # Query: is anything within the sweep's reach in flight (the acceptance-time index)
        | _ledger(synth, relay_construct.SWEEPER_LEDGER_ACTIONS, index=Ledger.ACCEPTED_INDEX)
        | _key(synth, relay_construct.LEDGER_KEY_READ + relay_construct.LEDGER_KEY_WRITE)
        | {
            (a, _secret_arn(synth, name))
            for a in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
            for name in (synth.config.api_key_secret_name, synth.config.webhook_secret_name)
        }
    )
    assert stack.relay.sweep_ticks is not None
    ticks = dumps(synth.resolve(stack.relay.sweep_ticks.queue_arn))
    sent = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
    consumed = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")
    tick_grants = {(a, ticks) for a in sent + consumed}
    granted = _grants(synth, sweeper)
    assert granted == expected | tick_grants
    actions = {action for action, _ in granted}
    # no order message: its queue actions are its own ticks and Lambda's delivery of a failed run
    assert {g for g in granted if g[0].startswith("sqs:")} == _failed_runs(synth) | tick_grants
    assert "dynamodb:PutItem" not in actions
    # ... and the poller keeps GetItem + UpdateItem (the coordination items share its table)
    poller_ddb = {a for a, _ in _grants(synth, stack.relay.poller) if a.startswith("dynamodb:")}
    assert poller_ddb == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


def test_function_errors_alarm_watches_the_sweeper_too(synth: Synth) -> None:
    name = alarm_name(synth.stack.stack_name, "RelayFunctionErrors")
    (props,) = [
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == name
    ]
    functions = {
        dumps(q["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for q in props["Metrics"]
        if "MetricStat" in q
    }
    expected = (
        synth.stack.relay.poller,
        synth.stack.relay.balance_monitor,
        synth.stack.relay.stuck_monitor,
        _sweeper(synth),
    )
    assert functions == {dumps(synth.resolve(f.function_name)) for f in expected}
    (expression,) = [q["Expression"] for q in props["Metrics"] if "Expression" in q]
    assert expression == " + ".join(f"FILL(errors{i}, 0)" for i in range(4))


def test_dashboard_has_a_sweep_and_budget_widget(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))
    (widget,) = [
        w
        for w in body["widgets"]
        if w["properties"].get("title", "").startswith("Completion sweep")
    ]
    names = {m[1] for m in widget["properties"]["metrics"]}
    assert names == {
        Metric.SWEEP_REQUESTS,
        Metric.SWEEP_FOUND,
        Metric.SWEEP_DEFERRALS,
        Metric.BUDGET_WAITS,
        Metric.THROTTLED,
    }
    for metric in widget["properties"]["metrics"]:
        assert metric[0] == "FoxReloadRelay"
        assert metric[2:4] == ["service", "foxreload-relay"]


# -- sweepEnabled: false --------------------------------------------------------------------------


def test_without_the_sweep_no_sweeper_resource_exists(no_sweep: tuple[Synth, Any]) -> None:
    synth, _report = no_sweep
    stack = synth.stack
    assert synth.config.sweep_enabled is False
    assert stack.relay.sweeper is None
    functions = synth.resources("AWS::Lambda::Function").values()
    handlers = {f["Properties"]["Handler"] for f in functions}
    assert handlers == {
        relay_construct.POLLER_HANDLER,
        relay_construct.BALANCE_MONITOR_HANDLER,
        relay_construct.STUCK_MONITOR_HANDLER,
    }
    assert len(synth.resources("AWS::Events::Rule")) == 2
    assert len(synth.resources("AWS::IAM::Role")) == 3
    assert len(synth.resources("AWS::Logs::LogGroup")) == 3
    assert not [logical for logical in synth.raw["Resources"] if "Sweeper" in logical]
    text = dumps(synth.raw)
    assert relay_construct.SWEEPER_HANDLER not in text
    # the sweeper's batch reads are gone with it: only the balance monitor's own stay
    batch_readers = [
        f.node.id
        for f in (stack.relay.poller, stack.relay.balance_monitor, stack.relay.stuck_monitor)
        if "dynamodb:BatchGetItem" in {action for action, _ in _grants(synth, f)}
    ]
    assert batch_readers == [stack.relay.balance_monitor.node.id]
    # the pollers know: per-order polls take the whole key, no coverage reads
    env = synth.props(stack.relay.poller)["Environment"]["Variables"]
    assert env["SWEEP_ENABLED"] == "False"
    parsed = PollerSettings.from_env(
        {k: (v if isinstance(v, str) else "resolved-at-deploy") for k, v in env.items()}
    )
    assert parsed.sweep_enabled is False


def test_without_the_sweep_the_errors_alarm_watches_the_three_functions(
    no_sweep: tuple[Synth, Any],
) -> None:
    synth, _report = no_sweep
    (spec,) = [s for s in alarm_specs(synth.config) if s.id == "RelayFunctionErrors"]
    assert len(spec.metrics) == 3
    assert spec.expression == "FILL(errors0, 0) + FILL(errors1, 0) + FILL(errors2, 0)"
    assert set(synth.stack.relay.alarm_resource_names()) == {
        "orders_queue_name",
        "dead_letter_queue_name",
        "poller_function_name",
        "balance_monitor_function_name",
        "stuck_monitor_function_name",
    }


def test_without_the_sweep_cdk_nag_and_cfn_lint_stay_clean(no_sweep: tuple[Synth, Any]) -> None:
    synth, report = no_sweep
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == NAG_PACK]
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    suppressed = {
        c["constructPath"].removeprefix(f"{synth.stack.stack_name}/")
        for f in plugin["suppressedViolations"]
        for c in f["violatingConstructs"]
    }
    assert not [path for path in suppressed if path.startswith("Sweeper")]
    matches = lint(json.dumps(synth.raw), config=ManualArgs(regions=[synth.config.region]))
    assert [f"{m.rule.id} {m.path}" for m in matches if m.rule.id not in IGNORED] == []
