"""Template assertions for the stack's resources (docs/deploy.md, "What you will see in the
console"), for every environment in cdk.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import ArnFormat

from relay.domain.retry_pacing import receive_bound
from relay.monitor_settings import MonitorSettings
from relay.names import METRICS_NAMESPACE, SERVICE_NAME, AlarmThreshold, Ledger
from relay.settings import (
    PollerSettings,
    SettingsError,
    max_receive_count,
    queue_retention_seconds,
)
from stacks import relay_construct
from stacks.alarms import Severity
from stacks.application import build_app
from stacks.config import load_context
from tests.infrastructure.synth_helpers import Synth, dumps

# -- the stack ----------------------------------------------------------------------------------


def test_one_stack_named_per_environment_with_its_account_and_region(synth: Synth) -> None:
    """cdk.json names no account (none is needed): without CDK_DEFAULT_ACCOUNT it is the
    deploying account's AWS::AccountId; the region is cdk.json's."""
    assert synth.stack.stack_name == f"FoxReloadRelay-{synth.config.name}"
    assert synth.config.account is None
    assert synth.resolve(synth.stack.account) == {"Ref": "AWS::AccountId"}
    assert synth.stack.region == synth.config.region


# -- queues -------------------------------------------------------------------------------------


def _ssl_enforced(synth: Synth, queue: Any) -> bool:
    queue_ref = synth.resolve(queue.queue_url)
    for policy in synth.resources("AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        if props["Queues"] != [queue_ref]:
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                and statement["Principal"] == {"AWS": "*"}
            ):
                return True
    return False


def test_orders_queue_encrypted_ssl_only_visibility_and_redrive(synth: Synth) -> None:
    cfg = synth.config
    props = synth.props(synth.stack.relay.orders_queue)
    assert props["SqsManagedSseEnabled"] is True
    assert props["VisibilityTimeout"] == cfg.queue_visibility_seconds
    assert props["VisibilityTimeout"] >= 6 * cfg.poller_timeout_seconds
    settings = cfg.poller_settings(ledger_table="-", orders_queue_url="-", dlq_url="-")
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": synth.resolve(synth.stack.relay.dead_letter_queue.queue_arn),
        "maxReceiveCount": max_receive_count(settings),
    }
    assert _ssl_enforced(synth, synth.stack.relay.orders_queue)


def test_max_receive_count_and_retention_let_the_relay_decide(synth: Synth) -> None:
    """maxReceiveCount is a crash-loop net above every receive the deadline and the delivery
    window can cause; the orders queue keeps a message longer than both."""
    settings = synth.config.poller_settings(ledger_table="-", orders_queue_url="-", dlq_url="-")
    props = synth.props(synth.stack.relay.orders_queue)
    bound = receive_bound(
        settings.give_up_after_seconds, settings.delivery_window_seconds, min_poll_delay=3.0
    )
    assert props["RedrivePolicy"]["maxReceiveCount"] >= bound
    assert props["MessageRetentionPeriod"] == queue_retention_seconds(settings)
    assert props["MessageRetentionPeriod"] > (
        settings.give_up_after_seconds + settings.delivery_window_seconds
    )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"deliveryWindowSeconds": 30 * 86400}, "14-day"),
        ({"deliveryWindowSeconds": 12 * 86400}, "maxReceiveCount"),
        ({"pollerTimeoutSeconds": 15}, "poller's 15s timeout"),
        ({"webhookUrl": "http://storefront.example.com/hook"}, "https://"),
        ({"foxreloadBaseUrl": "http://public-api.foxreload.com"}, "https://"),
    ],
)
def test_synth_refuses_settings_that_cannot_hold(
    change: dict[str, object], complaint: str, tmp_path: Path
) -> None:
    environments = load_context()["relay:environments"]
    environments["dev"] = {**environments["dev"], **change}
    with pytest.raises(SettingsError, match=complaint):
        build_app(
            "dev",
            outdir=tmp_path,
            bundle=False,
            nag=False,
            extra_context={"relay:environments": environments},
        )


def test_dlq_keeps_14_days_and_allows_console_redrive_to_the_orders_queue(synth: Synth) -> None:
    stack = synth.stack
    props = synth.props(stack.relay.dead_letter_queue)
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert props["SqsManagedSseEnabled"] is True
    assert _ssl_enforced(synth, stack.relay.dead_letter_queue)
    policy = props["RedriveAllowPolicy"]
    assert policy["redrivePermission"] == "byQueue"
    (source,) = policy["sourceQueueArns"]
    # Built from the orders queue's physical name (a GetAtt would be a dependency cycle).
    orders_name = synth.props(stack.relay.orders_queue)["QueueName"]
    assert source == synth.resolve(stack.format_arn(service="sqs", resource=orders_name))


def test_event_source_mapping_reports_partial_failures_with_configured_batching(
    synth: Synth,
) -> None:
    cfg = synth.config
    # the orders queue's, and the sweeper's tick queue's when the sweep is on
    sweeping = synth.stack.relay.sweep_ticks is not None
    synth.template.resource_count_is("AWS::Lambda::EventSourceMapping", 1 + sweeping)
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": synth.resolve(synth.stack.relay.orders_queue.queue_arn),
            "FunctionName": synth.resolve(synth.stack.relay.poller.function_name),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": cfg.batch_size,
            "MaximumBatchingWindowInSeconds": cfg.batching_window_seconds,
            "ScalingConfig": {"MaximumConcurrency": cfg.max_concurrency},
        },
    )


# -- ledger -------------------------------------------------------------------------------------


def test_ledger_table_keys_billing_pitr_ttl_and_customer_managed_key(synth: Synth) -> None:
    stack = synth.stack
    props = synth.props(stack.relay.ledger)
    assert props["KeySchema"] == [{"AttributeName": Ledger.PARTITION_KEY, "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": Ledger.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["SSESpecification"] == {
        "KMSMasterKeyId": synth.resolve(stack.relay.ledger_key.key_arn),
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert synth.props(stack.relay.ledger_key)["EnableKeyRotation"] is True


def test_ledger_indexes_for_the_monitors(synth: Synth) -> None:
    props = synth.props(synth.stack.relay.ledger)
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attributes == {
        Ledger.PARTITION_KEY: "S",
        Ledger.ACCEPTED_INDEX_PARTITION: "S",
        Ledger.ACCEPTED_INDEX_SORT: "N",
        Ledger.SPEND_INDEX_PARTITION: "S",
        Ledger.SPEND_INDEX_SORT: "N",
        Ledger.STOREFRONT_REF_INDEX_PARTITION: "S",
    }
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": Ledger.ACCEPTED_INDEX,
            "KeySchema": [
                {"AttributeName": Ledger.ACCEPTED_INDEX_PARTITION, "KeyType": "HASH"},
                {"AttributeName": Ledger.ACCEPTED_INDEX_SORT, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            # sparse: only charged orders carry charged_hour; the monitor needs only the price
            "IndexName": Ledger.SPEND_INDEX,
            "KeySchema": [
                {"AttributeName": Ledger.SPEND_INDEX_PARTITION, "KeyType": "HASH"},
                {"AttributeName": Ledger.SPEND_INDEX_SORT, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total_price"]},
        },
        {
            # sparse: only orders whose message carried a storefront_ref; the CLI reads the items
            "IndexName": Ledger.STOREFRONT_REF_INDEX,
            "KeySchema": [
                {"AttributeName": Ledger.STOREFRONT_REF_INDEX_PARTITION, "KeyType": "HASH"},
                {"AttributeName": Ledger.STOREFRONT_REF_INDEX_SORT, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ]


def test_data_is_retained_and_deletion_protected_only_where_configured(synth: Synth) -> None:
    stack = synth.stack
    retain = synth.config.retain_data
    table = synth.resource(stack.relay.ledger)
    assert table["Properties"].get("DeletionProtectionEnabled", False) is retain
    expected = "Retain" if retain else "Delete"
    for construct in (stack.relay.ledger, stack.relay.ledger_key, stack.relay.orders_queue, stack.relay.dead_letter_queue):
        resource = synth.resource(construct)
        assert resource["DeletionPolicy"] == expected, construct.node.path
        assert resource["UpdateReplacePolicy"] == expected, construct.node.path


def test_prod_retains_data_and_dev_does_not(synth_by_env: dict[str, Synth]) -> None:
    assert synth_by_env["prod"].config.retain_data is True
    assert synth_by_env["dev"].config.retain_data is False


# -- functions ----------------------------------------------------------------------------------


def _functions(synth: Synth) -> dict[str, Any]:
    stack = synth.stack
    functions = {
        relay_construct.POLLER_HANDLER: stack.relay.poller,
        relay_construct.BALANCE_MONITOR_HANDLER: stack.relay.balance_monitor,
        relay_construct.STUCK_MONITOR_HANDLER: stack.relay.stuck_monitor,
    }
    if stack.relay.sweeper is not None:
        functions[relay_construct.SWEEPER_HANDLER] = stack.relay.sweeper
    return functions


def test_every_function_is_python312_arm64_traced_with_its_own_log_group(synth: Synth) -> None:
    assert synth.config.sweep_enabled  # cdk.json: every environment runs the sweeper
    synth.template.resource_count_is("AWS::Lambda::Function", len(_functions(synth)))
    synth.template.resource_count_is("AWS::Logs::LogGroup", len(_functions(synth)))
    synth.template.resource_count_is("AWS::IAM::Role", len(_functions(synth)))
    retention_days = synth.config.log_retention_days
    for handler, function in _functions(synth).items():
        props = synth.props(function)
        assert props["Handler"] == handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        log_group_ref = props["LoggingConfig"]["LogGroup"]
        (log_group_id,) = log_group_ref.values()
        log_group = synth.raw["Resources"][log_group_id]
        assert log_group["Type"] == "AWS::Logs::LogGroup"
        assert log_group["Properties"]["RetentionInDays"] == retention_days
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
        assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_poller_timeout_memory_and_environment_come_from_the_settings(synth: Synth) -> None:
    cfg, stack = synth.config, synth.stack
    props = synth.props(stack.relay.poller)
    assert props["Timeout"] == cfg.poller_timeout_seconds
    assert props["MemorySize"] == cfg.poller_memory_mb
    env = props["Environment"]["Variables"]
    expected = cfg.poller_settings(
        ledger_table="LEDGER", orders_queue_url="ORDERS", dlq_url="DLQ"
    ).to_env()
    tokens = {
        "LEDGER_TABLE": synth.resolve(stack.relay.ledger.table_name),
        "ORDERS_QUEUE_URL": synth.resolve(stack.relay.orders_queue.queue_url),
        "DLQ_URL": synth.resolve(stack.relay.dead_letter_queue.queue_url),
    }
    for name, value in expected.items():
        assert env[name] == tokens.get(name, value), name
    # ... and the poller parses what the stack wrote.
    parsed = PollerSettings.from_env(
        {k: (v if isinstance(v, str) else "resolved-at-deploy") for k, v in env.items()}
    )
    assert parsed.give_up_after_seconds == cfg.give_up_after_seconds
    assert parsed.foxreload_api_key_secret == cfg.api_key_secret_name
    assert parsed.sink_webhook_secret == cfg.webhook_secret_name


def test_monitors_environment_schedules_and_no_retries(synth: Synth) -> None:
    cfg, stack = synth.config, synth.stack
    schedules = {
        stack.relay.balance_monitor: f"rate({cfg.balance_check_minutes} minutes)",
        stack.relay.stuck_monitor: "rate(1 minute)",
    }
    rules = synth.resources("AWS::Events::Rule")
    assert len(rules) == 2 + (synth.stack.relay.sweeper is not None)  # + the sweeper's (its own test)
    expected_env = cfg.monitor_settings(ledger_table="LEDGER").to_env()
    for function, expression in schedules.items():
        env = synth.props(function)["Environment"]["Variables"]
        for name, value in expected_env.items():
            expected = synth.resolve(stack.relay.ledger.table_name) if name == "LEDGER_TABLE" else value
            assert env[name] == expected, name
        parsed = MonitorSettings.from_env({**env, "LEDGER_TABLE": "resolved-at-deploy"})
        assert parsed.stuck_window_seconds == AlarmThreshold.STUCK_WINDOW_SECONDS == 600
        assert parsed.foxreload_api_key_secret == cfg.api_key_secret_name
        assert parsed.balance_endpoint == cfg.balance_endpoint
        # the monitors judge with the thresholds the alarms use
        assert parsed.stuck_ratio_percent == pytest.approx(cfg.stuck_ratio_threshold * 100)
        assert parsed.low_balance_spend_multiple == cfg.low_balance_spend_multiple
        function_arn = synth.resolve(function.function_arn)
        matching = [
            r["Properties"]
            for r in rules.values()
            if r["Properties"]["Targets"][0]["Arn"] == function_arn
        ]
        assert len(matching) == 1
        assert matching[0]["ScheduleExpression"] == expression
        assert matching[0]["State"] == "ENABLED"
        synth.template.has_resource_properties(
            "AWS::Lambda::EventInvokeConfig",
            {"FunctionName": synth.resolve(function.function_name), "MaximumRetryAttempts": 0},
        )


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_are_referenced_by_name_never_created(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::SecretsManager::Secret", 0)
    text = dumps(synth.raw)
    for name in (synth.config.api_key_secret_name, synth.config.webhook_secret_name):
        assert f":secret:{name}-??????" in text


# -- least privilege ----------------------------------------------------------------------------


def _grants(synth: Synth, function: Any) -> set[tuple[str, str]]:
    """(action, resource) pairs of the function role's policies, resources rendered as JSON."""
    role = function.role
    role_ref = synth.resolve(role.role_name)
    pairs: set[tuple[str, str]] = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        if role_ref not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for resource in resources if isinstance(resources, list) else [resources]:
                    pairs.add((action, dumps(resource)))
    return pairs


def _secret_arn(synth: Synth, name: str) -> str:
    arn = synth.stack.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{name}-??????",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return dumps(synth.resolve(arn))


def _common(synth: Synth, function: Any) -> set[tuple[str, str]]:
    log_group = dumps(synth.resolve(function.log_group.log_group_arn))
    return {
        ("logs:CreateLogStream", log_group),
        ("logs:PutLogEvents", log_group),
        ("xray:PutTraceSegments", dumps("*")),
        ("xray:PutTelemetryRecords", dumps("*")),
    }


def _failed_runs(synth: Synth) -> set[tuple[str, str]]:
    """A scheduled function's async DLQ: Lambda sends a failed run with the function's role."""
    queue = dumps(synth.resolve(synth.stack.relay.scheduled_failures.queue_arn))
    return {("sqs:SendMessage", queue)}


def _ledger(
    synth: Synth, actions: tuple[str, ...], index: str | None = None
) -> set[tuple[str, str]]:
    table = synth.resolve(synth.stack.relay.ledger.table_arn)
    resources = [dumps(table)]
    if index is not None:
        resources.append(dumps({"Fn::Join": ["", [table, f"/index/{index}"]]}))
    return {(a, r) for a in actions for r in resources}


def _key(synth: Synth, actions: tuple[str, ...]) -> set[tuple[str, str]]:
    key = dumps(synth.resolve(synth.stack.relay.ledger_key.key_arn))
    return {(a, key) for a in actions}


def test_poller_may_do_exactly_what_its_code_needs(synth: Synth) -> None:
    stack = synth.stack
    orders = dumps(synth.resolve(stack.relay.orders_queue.queue_arn))
    dlq = dumps(synth.resolve(stack.relay.dead_letter_queue.queue_arn))
    expected = (
        _common(synth, stack.relay.poller)
        # the event source mapping: receive, delete, change visibility (+ the two reads it needs)
        | {
            (a, orders)
            for a in (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            )
        }
        | {(a, dlq) for a in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")}
        | _ledger(synth, relay_construct.POLLER_LEDGER_ACTIONS)
        | _key(synth, relay_construct.LEDGER_KEY_READ + relay_construct.LEDGER_KEY_WRITE)
        | {
            (a, _secret_arn(synth, name))
            for a in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
            for name in (synth.config.api_key_secret_name, synth.config.webhook_secret_name)
        }
    )
    assert _grants(synth, stack.relay.poller) == expected


def test_balance_monitor_reads_the_spend_index_keeps_hour_sums_and_reads_the_api_key(
    synth: Synth,
) -> None:
    stack = synth.stack
    actions = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
    expected = (
        _common(synth, stack.relay.balance_monitor)
        | _failed_runs(synth)
        | _ledger(synth, actions, index=Ledger.SPEND_INDEX)
        | _ledger(synth, ("dynamodb:PutItem",))
        | _key(synth, (*relay_construct.LEDGER_KEY_READ, *relay_construct.LEDGER_KEY_WRITE))
        | {
            (a, _secret_arn(synth, synth.config.api_key_secret_name))
            for a in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
        }
    )
    assert _grants(synth, stack.relay.balance_monitor) == expected


def test_balance_monitor_writes_only_its_kept_hour_sums(synth: Synth) -> None:
    role_ref = synth.resolve(synth.stack.relay.balance_monitor.role.role_name)
    puts = [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if role_ref in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:PutItem" in statement["Action"]
    ]
    assert [p["Action"] for p in puts] == ["dynamodb:PutItem"]
    assert puts[0]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{Ledger.SPEND_HOUR_PREFIX}*"]}
    }


def test_stuck_monitor_only_reads_the_ledger(synth: Synth) -> None:
    stack = synth.stack
    expected = (
        _common(synth, stack.relay.stuck_monitor)
        | _failed_runs(synth)
        | _ledger(synth, ("dynamodb:GetItem", "dynamodb:Query"), index=Ledger.ACCEPTED_INDEX)
        | _key(synth, relay_construct.LEDGER_KEY_READ)
    )
    assert _grants(synth, stack.relay.stuck_monitor) == expected
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "kms:Encrypt"}
    assert not {a for a, _ in expected} & writes


def test_ledger_key_use_is_only_through_dynamodb(synth: Synth) -> None:
    key = synth.resolve(synth.stack.relay.ledger_key.key_arn)
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == key:
                assert statement["Condition"] == {
                    "StringEquals": {
                        "kms:ViaService": f"dynamodb.{synth.config.region}.amazonaws.com"
                    }
                }


def test_roles_have_no_managed_policies_and_no_wildcard_actions(synth: Synth) -> None:
    for role in synth.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ]
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                assert "*" not in action, action
            if statement["Resource"] == "*":
                assert set(statement["Action"]) == {
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                }


# -- alerting -----------------------------------------------------------------------------------


def test_page_and_ticket_topics_are_kms_encrypted_ssl_only_and_cloudwatch_may_publish(
    synth: Synth,
) -> None:
    stack = synth.stack
    synth.template.resource_count_is("AWS::SNS::Topic", 2)
    for severity in Severity:
        topic = stack.relay.topics[severity]
        props = synth.props(topic)
        assert props["KmsMasterKeyId"] == synth.resolve(topic.master_key.key_arn)
        topic_ref = synth.resolve(topic.topic_arn)
        (policy,) = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in synth.resources("AWS::SNS::TopicPolicy").values()
            if p["Properties"]["Topics"] == [topic_ref]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy
        )
        assert any(
            s["Effect"] == "Allow"
            and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
            and s["Action"] == "sns:Publish"
            for s in policy
        )
    key = synth.resource(stack.relay.topics[Severity.PAGE].master_key)
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and set(s["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
        for s in statements
    )


def test_email_subscriptions_come_from_config(synth: Synth) -> None:
    expected = len(synth.config.pager_emails) + len(synth.config.ticket_emails)
    synth.template.resource_count_is("AWS::SNS::Subscription", expected)


def test_configured_emails_subscribe_to_the_right_topic(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from aws_cdk.assertions import Template

    from stacks.application import build_app
    from stacks.config import load_context

    context = load_context()
    context["relay:environments"]["dev"]["pagerEmails"] = ["oncall@example.com"]
    context["relay:environments"]["dev"]["ticketEmails"] = ["ops@example.com", "b@example.com"]
    _app, stack = build_app(
        "dev",
        outdir=tmp_path_factory.mktemp("emails"),
        bundle=False,
        nag=False,
        extra_context={"relay:environments": context["relay:environments"]},
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 3)
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "oncall@example.com",
            "TopicArn": stack.resolve(stack.relay.topics[Severity.PAGE].topic_arn),
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "ops@example.com",
            "TopicArn": stack.resolve(stack.relay.topics[Severity.TICKET].topic_arn),
        },
    )


def test_dashboard_shows_flow_lag_dlq_api_errors_throttles_and_balance(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == synth.stack.stack_name
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = "".join(p if isinstance(p, str) else "<ref>" for p in parts)
    for title in (
        "Delivery flow",
        "Lag",
        "Queue depth",
        "FoxReload API: errors, throttles",
        "Balance",
        "Alarms",
    ):
        assert f'"title":"{title}' in body, title
    for metric in (
        "OrdersAccepted",
        "OrdersDelivered",
        "TimeToDeliverSeconds",
        "ApproximateAgeOfOldestMessage",
        "DLQ visible",
        "ApiErrorsServerError",
        "Throttled",
        "AuthFailures",
        "EstimatedBalance",
        "Spend24h",
        "RunwayHours",
    ):
        assert metric in body, metric


def test_outputs_for_the_storefront_and_on_call(synth: Synth) -> None:
    outputs = synth.raw["Outputs"]
    for name in (
        "OrdersQueueUrl",
        "OrdersQueueArn",
        "DeadLetterQueueUrl",
        "ScheduledRunFailuresQueueUrl",
        "LedgerTableName",
        "PageTopicArn",
        "TicketTopicArn",
        "DashboardName",
    ):
        assert name in outputs
    synth.template.has_output(
        "OrdersQueueUrl", {"Value": synth.resolve(synth.stack.relay.orders_queue.queue_url)}
    )


def test_functions_share_one_code_asset(synth: Synth) -> None:
    codes = {dumps(synth.props(f)["Code"]) for f in _functions(synth).values()}
    assert len(codes) == 1
