"""`FoxReloadRelay`, the whole relay as one L3 construct: queues, ledger, functions, topics,
alarms, dashboard. `RelayStack` (stacks/relay_stack.py) holds one per cdk.json environment; any
other CDK app can hold one too (docs/deploy.md, "Embedding the relay in your own app").

Every setting comes from `FoxReloadRelayProps` (a cdk.json environment's settings) and every
shared name from `relay.names`; the functions' environment is written by
`PollerSettings.to_env()` / `MonitorSettings.to_env()`, the same code that parses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Tags,
    Validations,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from relay.names import POWERTOOLS_ENVIRONMENT, SERVICE_NAME, Ledger
from relay.settings import check_time_budgets, max_receive_count, queue_retention_seconds
from stacks import checkov_acks as checkov
from stacks.alarms import RelayAlarms, Resource, Severity
from stacks.bundling import ARCHITECTURE, RUNTIME, function_code
from stacks.config import FoxReloadRelayProps
from stacks.dashboard import RelayDashboard

POLLER_HANDLER = "relay.handlers.poller.handler"
BALANCE_MONITOR_HANDLER = "relay.handlers.balance_monitor.handler"
STUCK_MONITOR_HANDLER = "relay.handlers.stuck_monitor.handler"
SWEEPER_HANDLER = "relay.handlers.sweeper.handler"

DLQ_RETENTION = Duration.days(14)
# Where a scheduled run that failed (or that EventBridge could not invoke) is kept for on-call.
SCHEDULED_FAILURES_RETENTION = Duration.days(14)
MONITOR_TIMEOUT = Duration.seconds(60)
MONITOR_MEMORY_MB = 256
STUCK_CHECK_MINUTES = 1
# The sweeper sweeps until its remaining time minus 15 s (relay.handlers.sweeper), so 75 s gives
# a run of about 60 s per scheduled invocation, one a minute. A run that finds the lease still
# held by the previous one waits for it (relay.service.sweeper Sweeper.run), so the sweep hands
# over without a gap; the margin covers a page read and a webhook still under way at the end.
SWEEPER_TIMEOUT = Duration.seconds(75)
SWEEPER_SCHEDULE_MINUTES = 1
SWEEP_TICK_RETENTION = Duration.hours(1)
SWEEP_TICK_RECEIVES = 3

# DynamoDB actions per function, listed rather than granted with grant_read_write_data so each
# gets exactly what its code calls. tests/infrastructure/test_calls_within_grants.py runs each
# function's real handler and fails on a call outside its list (and on a listed action no run
# uses). The operator's balance records are written by the operator CLI with the operator's
# credentials, not by any function.
POLLER_LEDGER_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
SWEEPER_LEDGER_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
# Writing the kept sums of settled hours (PutItem) is granted only on their own keys.
BALANCE_LEDGER_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
BALANCE_KEPT_SUM_KEYS = f"{Ledger.SPEND_HOUR_PREFIX}*"
STUCK_LEDGER_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
# What a caller needs on a table's customer-managed key, usable only through DynamoDB.
LEDGER_KEY_READ = ("kms:Decrypt", "kms:DescribeKey")
LEDGER_KEY_WRITE = ("kms:Encrypt", "kms:GenerateDataKey")

# Saved CloudWatch Logs Insights queries (Logs Insights → Saved queries, folder
# FoxReloadRelay-<name>). An Insights query takes no parameter: the journey query's placeholder
# is replaced by the order id before running it (docs/runbook.md).
ORDER_ID_PLACEHOLDER = "PASTE-ORDER-ID"
JOURNEY_QUERY = "one-order-journey"
DEAD_LETTERS_QUERY = "dead-letters-by-reason"

_RETENTION_DAYS: Mapping[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
}

# cdk-nag v3 reports through CDK's Validations; an acknowledgement names the plugin and the
# finding, e.g. "AwsSolutions::AwsSolutions-IAM5[Resource::*]" (what the report tells you to use).
NAG_PACK = "AwsSolutions"

# Acknowledged cdk-nag findings (see docs/deploy.md, "Security review").
ACK_RUNTIME = (
    "python3.12 is pinned on purpose: the asset's compiled dependencies are CPython 3.12 aarch64 "
    "wheels (stacks/bundling.py PIP_PYTHON_VERSION), so the Lambda runtime and the wheel ABI must "
    "move together in one reviewed change, not whenever a newer runtime ships."
)
ACK_XRAY = (
    "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; AWS "
    "requires Resource '*' for active tracing (statement added by Lambda tracing)."
)


def _acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{NAG_PACK}::{rule_id}", reason=reason))


def retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION_DAYS[days]
    except KeyError:
        raise ValueError(
            f"logRetentionDays={days} is not a CloudWatch Logs retention; use one of "
            f"{sorted(_RETENTION_DAYS)}"
        ) from None


def tag_relay(scope: IConstruct, props: FoxReloadRelayProps) -> None:
    Tags.of(scope).add("app", SERVICE_NAME)
    Tags.of(scope).add("environment", props.name)


class FoxReloadRelay(Construct):
    """The relay for one deployment `props.name`, in whatever stack `scope` belongs to.

    Physical names derive from `props.name` (queues `foxreload-relay-<name>-orders[-dlq]`, alarms
    and dashboard `FoxReloadRelay-<name>[-…]`), so two relays in one account need two names.
    """

    def __init__(self, scope: Construct, construct_id: str, props: FoxReloadRelayProps) -> None:
        super().__init__(scope, construct_id)
        config = props
        self.config = config
        self._stack = Stack.of(self)
        self._via_dynamodb = f"dynamodb.{self._stack.region}.amazonaws.com"
        # Values the functions would refuse at every cold start fail `cdk synth` instead.
        placeholder = config.poller_settings(ledger_table="-", orders_queue_url="-", dlq_url="-")
        placeholder.validate()
        check_time_budgets(
            placeholder, config.poller_timeout_seconds, SWEEPER_TIMEOUT.to_seconds()
        )
        config.monitor_settings(ledger_table="-").validate()
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self._removal = removal
        tag_relay(self, config)

        self.dead_letter_queue, self.orders_queue = self._queues()
        self.ledger_key, self.ledger = self._ledger()
        self.api_key_secret = secretsmanager.Secret.from_secret_name_v2(
            self, "FoxReloadApiKey", config.api_key_secret_name
        )
        self.webhook_secret = secretsmanager.Secret.from_secret_name_v2(
            self, "WebhookSecret", config.webhook_secret_name
        )
        self.code = function_code()
        # With encryptLogs, one customer-managed key for every function's log group.
        self.logs_key = self._logs_key() if config.encrypt_logs else None
        self.scheduled_failures = self._scheduled_failures()
        self.poller = self._poller()
        # Only with sweepEnabled: otherwise no sweeper resources at all, and the poller's
        # SWEEP_ENABLED (from the same config) is false, so per-order polls get the whole key.
        self.sweep_ticks: sqs.Queue | None = None
        self.sweeper = self._sweeper() if config.sweep_enabled else None
        self.balance_monitor, self.stuck_monitor = self._monitors()
        self.queries = self._saved_queries()
        self.topics = self._topics()
        self.alarms = RelayAlarms(
            self,
            "Alarms",
            config=config,
            resource_names=self.alarm_resource_names(),
            topics=self.topics,
        )
        self.dashboard = RelayDashboard(
            self,
            "Dashboard",
            config=config,
            orders_queue=self.orders_queue,
            dead_letter_queue=self.dead_letter_queue,
            alarms=list(self.alarms.alarms.values()),
        )
        self._outputs()

    # -- queues ---------------------------------------------------------------------------------

    def _queues(self) -> tuple[sqs.Queue, sqs.Queue]:
        cfg = self.config
        # Physical names: the DLQ's RedriveAllowPolicy must name the orders queue's ARN, and a
        # GetAtt would be a cycle (the orders queue's RedrivePolicy already points at the DLQ).
        orders_name = f"{SERVICE_NAME}-{cfg.name}-orders"
        dlq_name = f"{orders_name}-dlq"
        dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=dlq_name,
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=self._removal,
        )
        orders_arn = self._stack.format_arn(service="sqs", resource=orders_name)
        cfn_dlq = dlq.node.default_child
        assert isinstance(cfn_dlq, sqs.CfnQueue)
        # "Start DLQ redrive" in the console moves messages back to their source queue only if
        # the DLQ allows it; byQueue names that one source.
        cfn_dlq.redrive_allow_policy = {
            "redrivePermission": "byQueue",
            "sourceQueueArns": [orders_arn],
        }
        placeholder = cfg.poller_settings(ledger_table="-", orders_queue_url="-", dlq_url="-")
        orders = sqs.Queue(
            self,
            "OrdersQueue",
            queue_name=orders_name,
            visibility_timeout=Duration.seconds(cfg.queue_visibility_seconds),
            retention_period=Duration.seconds(queue_retention_seconds(placeholder)),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dlq, max_receive_count=max_receive_count(placeholder)
            ),
            removal_policy=self._removal,
        )
        for queue in (dlq, orders):
            checkov.skip_check(queue, "CKV_AWS_27", checkov.SQS_MANAGED_ENCRYPTION)
        return dlq, orders

    # -- ledger ---------------------------------------------------------------------------------

    def _ledger(self) -> tuple[kms.Key, dynamodb.Table]:
        key = kms.Key(
            self,
            "LedgerKey",
            description=f"{self.config.stack_name}: ledger table encryption",
            enable_key_rotation=True,
            removal_policy=self._removal,
            pending_window=Duration.days(7 if not self.config.retain_data else 30),
        )
        table = dynamodb.Table(
            self,
            "Ledger",
            partition_key=dynamodb.Attribute(
                name=Ledger.PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=Ledger.TTL_ATTRIBUTE,
            deletion_protection=self.config.retain_data,
            removal_policy=self._removal,
        )
        table.add_global_secondary_index(
            index_name=Ledger.ACCEPTED_INDEX,
            partition_key=dynamodb.Attribute(
                name=Ledger.ACCEPTED_INDEX_PARTITION, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=Ledger.ACCEPTED_INDEX_SORT, type=dynamodb.AttributeType.NUMBER
            ),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        table.add_global_secondary_index(
            index_name=Ledger.SPEND_INDEX,
            partition_key=dynamodb.Attribute(
                name=Ledger.SPEND_INDEX_PARTITION, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=Ledger.SPEND_INDEX_SORT, type=dynamodb.AttributeType.NUMBER
            ),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(Ledger.SPEND_INDEX_ATTRIBUTES),
        )
        # Sparse (only orders whose message carried a storefront_ref), keys only: the operator
        # CLI's `show --ref` finds the order ids here and reads each item.
        table.add_global_secondary_index(
            index_name=Ledger.STOREFRONT_REF_INDEX,
            partition_key=dynamodb.Attribute(
                name=Ledger.STOREFRONT_REF_INDEX_PARTITION, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=Ledger.STOREFRONT_REF_INDEX_SORT, type=dynamodb.AttributeType.NUMBER
            ),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        return key, table

    def _grant_ledger(
        self,
        role: iam.IRole,
        actions: Sequence[str],
        *,
        indexes: Sequence[str] = (),
        leading_keys: str | None = None,
    ) -> None:
        """`actions` on the table (and `indexes`); with `leading_keys`, only on items whose key
        matches that pattern. Plus the table key's use through DynamoDB."""
        resources = [self.ledger.table_arn]
        resources += [f"{self.ledger.table_arn}/index/{name}" for name in indexes]
        write = bool({"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(actions))
        conditions = (
            None
            if leading_keys is None
            else {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [leading_keys]}}
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=resources, conditions=conditions)
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[*LEDGER_KEY_READ, *(LEDGER_KEY_WRITE if write else ())],
                resources=[self.ledger_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": self._via_dynamodb}},
            )
        )

    # -- functions ------------------------------------------------------------------------------

    def _function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        timeout: Duration,
        memory_mb: int,
        scheduled: bool,
    ) -> lambda_.Function:
        """A relay function with its own log group and role. `scheduled`: invoked only by an
        EventBridge schedule, asynchronously, with no retry (the next run is at most a few
        minutes away, and a retried monitor would publish a second sample for its period); a
        run that fails lands in `scheduled_failures`."""
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=retention(self.config.log_retention_days),
            removal_policy=self._removal,
            encryption_key=self.logs_key,
        )
        if self.logs_key is None:
            checkov.skip_check(log_group, "CKV_AWS_158", checkov.LOGS_UNENCRYPTED)
        # Our own role instead of AWSLambdaBasicExecutionRole: logs only to this log group.
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{self.config.stack_name} {construct_id}",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            construct_id,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=self.code,
            role=role,
            log_group=log_group,
            timeout=timeout,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            environment=dict(environment),
            retry_attempts=0 if scheduled else None,
            dead_letter_queue=self.scheduled_failures if scheduled else None,
        )
        _acknowledge(function, "AwsSolutions-L1", ACK_RUNTIME)
        _acknowledge(role, "AwsSolutions-IAM5[Resource::*]", ACK_XRAY)
        concurrency = checkov.CONCURRENCY_SCHEDULED if scheduled else checkov.CONCURRENCY_POLLER
        checkov.skip_check(function, "CKV_AWS_115", concurrency)
        if not scheduled:
            checkov.skip_check(function, "CKV_AWS_116", checkov.POLLER_DLQ)
        checkov.skip_check(function, "CKV_AWS_117", checkov.NO_VPC)
        checkov.skip_check(function, "CKV_AWS_173", checkov.ENVIRONMENT_HAS_NO_SECRETS)
        return function

    def _schedule(self, construct_id: str, function: lambda_.Function, minutes: int) -> None:
        """Runs `function` every `minutes`; an event EventBridge cannot deliver (no retry: the
        next run is due soon) goes to `scheduled_failures` like a failed run."""
        events.Rule(
            self,
            construct_id,
            description=f"Runs {function.node.id} every {minutes} minute(s)",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
            targets=[
                targets.LambdaFunction(
                    function, retry_attempts=0, dead_letter_queue=self.scheduled_failures
                )
            ],
        )

    def _logs_key(self) -> kms.Key:
        stack = self._stack
        key = kms.Key(
            self,
            "LogsKey",
            description=f"{self.config.stack_name}: function log groups encryption",
            enable_key_rotation=True,
            removal_policy=self._removal,
            pending_window=Duration.days(7 if not self.config.retain_data else 30),
        )
        # CloudWatch Logs encrypts with the key itself, for log groups of this account and region
        # only; the functions' roles need no KMS permission to write.
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
        return key

    def _scheduled_failures(self) -> sqs.Queue:
        """Failed scheduled runs (the Lambda DLQ of the sweeper and the monitors, and their
        rules' DLQ): the event plus Lambda's ErrorCode / ErrorMessage attributes, for on-call.
        Nothing consumes it; RelayFunctionErrors already alarms on the failures themselves."""
        queue = sqs.Queue(
            self,
            "ScheduledRunFailures",
            retention_period=SCHEDULED_FAILURES_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=self._removal,
        )
        checkov.skip_check(queue, "CKV_AWS_27", checkov.SQS_MANAGED_ENCRYPTION)
        return queue

    def _poller(self) -> lambda_.Function:
        cfg = self.config
        settings = cfg.poller_settings(
            ledger_table=self.ledger.table_name,
            orders_queue_url=self.orders_queue.queue_url,
            dlq_url=self.dead_letter_queue.queue_url,
        )
        poller = self._function(
            "Poller",
            handler=POLLER_HANDLER,
            description="Polls FoxReload for queued orders and delivers each one exactly once",
            environment={**settings.to_env(), **POWERTOOLS_ENVIRONMENT},
            timeout=Duration.seconds(cfg.poller_timeout_seconds),
            memory_mb=cfg.poller_memory_mb,
            scheduled=False,
        )
        role = poller.role
        assert role is not None
        poller.add_event_source(
            event_sources.SqsEventSource(
                self.orders_queue,
                batch_size=cfg.batch_size,
                max_batching_window=Duration.seconds(cfg.batching_window_seconds),
                report_batch_item_failures=True,
                max_concurrency=cfg.max_concurrency,
            )
        )
        self.dead_letter_queue.grant_send_messages(role)
        self._grant_ledger(role, POLLER_LEDGER_ACTIONS)
        self.api_key_secret.grant_read(role)
        self.webhook_secret.grant_read(role)
        return poller

    def _sweeper(self) -> lambda_.Function:
        cfg = self.config
        # The poller's settings exactly: the sweeper builds the same runtime (PollerRuntime) and
        # must agree with the pollers on the rate limit, the budget split and the sweep knobs.
        ticks = self._sweep_ticks()
        settings = cfg.poller_settings(
            ledger_table=self.ledger.table_name,
            orders_queue_url=self.orders_queue.queue_url,
            dlq_url=self.dead_letter_queue.queue_url,
            sweep_tick_queue_url=ticks.queue_url,
        )
        # No reserved concurrency: a lease item in the ledger (adapters/coordination.py) already
        # lets only one invocation sweep; a second one that finds the lease held stops at once.
        # Reserved concurrency 1 would add nothing to that guarantee, but it would make Lambda
        # throttle the overlapping scheduled invocation (a run may last its whole SWEEPER_TIMEOUT,
        # and one starts every SWEEPER_SCHEDULE_MINUTES)
        # and hold it in the async queue to retry for up to 6 hours, and it would take one unit
        # from the account's unreserved pool for good.
        sweeper = self._function(
            "Sweeper",
            handler=SWEEPER_HANDLER,
            description=(
                "Sweeps FoxReload's order list and delivers terminal orders of ours exactly once"
            ),
            environment={**settings.to_env(), **POWERTOOLS_ENVIRONMENT},
            timeout=SWEEPER_TIMEOUT,
            memory_mb=cfg.poller_memory_mb,
            scheduled=True,  # no retry: the next run starts within a minute
        )
        role = sweeper.role
        assert role is not None
        # It lists and reads orders at FoxReload and signs webhooks; of the queues it only
        # sends itself ticks (it never touches an order's message: that still decides retries
        # and the DLQ).
        self._grant_ledger(role, SWEEPER_LEDGER_ACTIONS, indexes=[Ledger.ACCEPTED_INDEX])
        self.api_key_secret.grant_read(role)
        self.webhook_secret.grant_read(role)
        ticks.grant_send_messages(role)
        # A tick's run sweeps once and sends the next tick; the schedule starts a chain when
        # none runs (and is the watchdog of one that broke).
        sweeper.add_event_source(
            event_sources.SqsEventSource(ticks, batch_size=1, max_concurrency=2)
        )
        self._schedule("SweeperSchedule", sweeper, SWEEPER_SCHEDULE_MINUTES)
        self.sweep_ticks = ticks
        return sweeper

    def _sweep_ticks(self) -> sqs.Queue:
        """The sweeper's delayed "sweep again" messages (relay.domain.sweep_tick). A tick is
        worthless after its chain's lease (minutes), so a short retention; a failed tick's
        retry finds its turn taken by the chain the schedule restarted, and one that keeps
        failing joins the failed scheduled runs (the function's errors alarm already fired)."""
        queue = sqs.Queue(
            self,
            "SweepTicks",
            retention_period=SWEEP_TICK_RETENTION,
            visibility_timeout=Duration.seconds(6 * SWEEPER_TIMEOUT.to_seconds()),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.scheduled_failures, max_receive_count=SWEEP_TICK_RECEIVES
            ),
            removal_policy=self._removal,
        )
        checkov.skip_check(queue, "CKV_AWS_27", checkov.SQS_MANAGED_ENCRYPTION)
        return queue

    def _monitors(self) -> tuple[lambda_.Function, lambda_.Function]:
        cfg = self.config
        settings = cfg.monitor_settings(ledger_table=self.ledger.table_name)
        environment = {**settings.to_env(), **POWERTOOLS_ENVIRONMENT}
        # No retries of a scheduled run: the next run is a few minutes away and a retry would
        # publish a second sample for the same period.
        balance = self._function(
            "BalanceMonitor",
            handler=BALANCE_MONITOR_HANDLER,
            description="Reads or estimates the FoxReload balance and publishes balance metrics",
            environment=environment,
            timeout=MONITOR_TIMEOUT,
            memory_mb=MONITOR_MEMORY_MB,
            scheduled=True,
        )
        stuck = self._function(
            "StuckMonitor",
            handler=STUCK_MONITOR_HANDLER,
            description="Publishes the share of accepted orders not delivered within the window",
            environment=environment,
            timeout=MONITOR_TIMEOUT,
            memory_mb=MONITOR_MEMORY_MB,
            scheduled=True,
        )
        assert balance.role is not None and stuck.role is not None
        # Only the balance monitor calls FoxReload (the optional balance endpoint).
        self._grant_ledger(balance.role, BALANCE_LEDGER_ACTIONS, indexes=[Ledger.SPEND_INDEX])
        self._grant_ledger(
            balance.role, ("dynamodb:PutItem",), leading_keys=BALANCE_KEPT_SUM_KEYS
        )
        self.api_key_secret.grant_read(balance.role)
        self._grant_ledger(stuck.role, STUCK_LEDGER_ACTIONS, indexes=[Ledger.ACCEPTED_INDEX])
        self._schedule("BalanceSchedule", balance, cfg.balance_check_minutes)
        self._schedule("StuckSchedule", stuck, STUCK_CHECK_MINUTES)
        return balance, stuck

    # -- saved log queries ----------------------------------------------------------------------

    def _saved_queries(self) -> dict[str, logs.QueryDefinition]:
        """"One order's journey": every line carrying the order id, from the poller (each of
        its lines carries `order_id`) and the sweeper (its webhook attempt lines do), oldest
        first. "Dead letters by reason": the poller's dead-letter lines counted by reason (only
        the poller dead-letters)."""
        poller_logs = self.poller.log_group
        groups = [poller_logs] + ([self.sweeper.log_group] if self.sweeper else [])
        folder = self.config.stack_name
        journey = logs.QueryDefinition(
            self,
            "OrderJourneyQuery",
            query_definition_name=f"{folder}/{JOURNEY_QUERY}",
            log_groups=groups,
            query_string=logs.QueryString(
                fields=[
                    "@timestamp",
                    "@log",
                    "level",
                    "message",
                    "actor",
                    "attempt",
                    "webhook_status",
                    "webhook_failure",
                    "latency_ms",
                ],
                filter_statements=[f'order_id = "{ORDER_ID_PLACEHOLDER}"'],
                sort="@timestamp asc",
                limit=1000,
            ),
        )
        dead_letters = logs.QueryDefinition(
            self,
            "DeadLettersQuery",
            query_definition_name=f"{folder}/{DEAD_LETTERS_QUERY}",
            log_groups=[poller_logs],
            query_string=logs.QueryString(
                filter_statements=["message like /^dead-lettered: /"],
                parse_statements=['message "dead-lettered: *: *" as reason, detail'],
                stats="count(*) as dead_letters, latest(order_id) as example_order by reason",
                sort="dead_letters desc",
            ),
        )
        return {JOURNEY_QUERY: journey, DEAD_LETTERS_QUERY: dead_letters}

    # -- alerting -------------------------------------------------------------------------------

    def _topics(self) -> dict[Severity, sns.Topic]:
        cfg = self.config
        key = kms.Key(
            self,
            "AlertsKey",
            description=f"{cfg.stack_name}: alert topics encryption",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        alarm_arns = self._stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{cfg.stack_name}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key: they need a
        # customer-managed key whose policy lets CloudWatch use it, for this stack's alarms.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self._stack.account},
                    "ArnLike": {"aws:SourceArn": alarm_arns},
                },
            )
        )
        topics: dict[Severity, sns.Topic] = {}
        for severity, emails in (
            (Severity.PAGE, cfg.pager_emails),
            (Severity.TICKET, cfg.ticket_emails),
        ):
            title = severity.value.capitalize()
            topic = sns.Topic(
                self,
                f"{title}Topic",
                display_name=f"FoxReload relay {cfg.name} {severity.value}",
                master_key=key,
                enforce_ssl=True,
            )
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[cloudwatch],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": self._stack.account},
                        "ArnLike": {"aws:SourceArn": alarm_arns},
                    },
                )
            )
            for email in emails:
                topic.add_subscription(subscriptions.EmailSubscription(email))
            topics[severity] = topic
        return topics

    def alarm_resource_names(self) -> dict[str, str]:
        """Values for the placeholders in `stacks.alarms` (tokens until deploy)."""
        return {
            Resource.ORDERS_QUEUE: self.orders_queue.queue_name,
            Resource.DEAD_LETTER_QUEUE: self.dead_letter_queue.queue_name,
            Resource.POLLER: self.poller.function_name,
            Resource.BALANCE_MONITOR: self.balance_monitor.function_name,
            Resource.STUCK_MONITOR: self.stuck_monitor.function_name,
            **({Resource.SWEEPER: self.sweeper.function_name} if self.sweeper else {}),
        }

    def _outputs(self) -> None:
        values: Sequence[tuple[str, str, str]] = (
            ("OrdersQueueUrl", self.orders_queue.queue_url, "storefronts SendMessage here"),
            ("OrdersQueueArn", self.orders_queue.queue_arn, "grant storefronts sqs:SendMessage"),
            ("DeadLetterQueueUrl", self.dead_letter_queue.queue_url, "redrive from here"),
            (
                "ScheduledRunFailuresQueueUrl",
                self.scheduled_failures.queue_url,
                "failed sweeper / monitor runs, for on-call",
            ),
            ("LedgerTableName", self.ledger.table_name, "the delivery ledger"),
            ("PageTopicArn", self.topics[Severity.PAGE].topic_arn, "subscribe the pager"),
            ("TicketTopicArn", self.topics[Severity.TICKET].topic_arn, "subscribe the queue"),
            ("DashboardName", self.dashboard.dashboard.dashboard_name, "CloudWatch dashboard"),
        )
        for output_id, value, description in values:
            CfnOutput(self, output_id, value=value, description=description)
