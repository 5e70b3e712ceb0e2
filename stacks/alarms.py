"""Every alarm of docs/runbook.md, as plain data first and CloudWatch alarms second.

`alarm_specs(config)` is the single definition: the `RelayAlarms` construct builds the CloudWatch
alarms from it, and `watched_metrics(config)` flattens it to (namespace, name, dimensions) so a
test can check each alarm against the metrics the code really emits. Relay metrics come from
Powertools EMF, which always adds the one dimension `service=<POWERTOOLS_SERVICE_NAME>`.

Alarms on AWS service metrics (SQS, Lambda) name their resource with a placeholder such as
`{dead_letter_queue_name}`, filled in with the real token when the construct is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from relay.names import (
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    SERVICE_NAME,
    AlarmThreshold,
    Metric,
)
from stacks.config import EnvironmentConfig

RELAY_DIMENSIONS: Mapping[str, str] = {SERVICE_DIMENSION: SERVICE_NAME}
RUNBOOK = "docs/runbook.md"


class Resource:
    """Keys of `resource_names`: the AWS resources whose service metrics alarms watch."""

    ORDERS_QUEUE = "orders_queue_name"
    DEAD_LETTER_QUEUE = "dead_letter_queue_name"
    POLLER = "poller_function_name"
    BALANCE_MONITOR = "balance_monitor_function_name"
    STUCK_MONITOR = "stuck_monitor_function_name"
    SWEEPER = "sweeper_function_name"  # only with sweepEnabled

    ALL = (ORDERS_QUEUE, DEAD_LETTER_QUEUE, POLLER, BALANCE_MONITOR, STUCK_MONITOR, SWEEPER)

    @staticmethod
    def functions(config: EnvironmentConfig) -> tuple[str, ...]:
        """The relay functions this environment deploys (RelayFunctionErrors watches each)."""
        always = (Resource.POLLER, Resource.BALANCE_MONITOR, Resource.STUCK_MONITOR)
        return (*always, Resource.SWEEPER) if config.sweep_enabled else always

    @staticmethod
    def deployed(config: EnvironmentConfig) -> tuple[str, ...]:
        """Every resource of `ALL` that this environment deploys."""
        return (Resource.ORDERS_QUEUE, Resource.DEAD_LETTER_QUEUE, *Resource.functions(config))


def placeholder(resource: str) -> str:
    """The dimension value standing for `resource`'s name until the construct fills it in."""
    return "{" + resource + "}"


class Severity(Enum):
    PAGE = "page"
    TICKET = "ticket"


class Missing(Enum):
    """CloudWatch TreatMissingData values."""

    NOT_BREACHING = "notBreaching"
    BREACHING = "breaching"
    IGNORE = "ignore"
    MISSING = "missing"


class Compare(Enum):
    GREATER = "GreaterThanThreshold"
    LESS = "LessThanThreshold"


@dataclass(frozen=True)
class MetricSpec:
    namespace: str
    name: str
    statistic: str
    period_seconds: int
    dimensions: Mapping[str, str] = field(default_factory=lambda: dict(RELAY_DIMENSIONS))


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm. With `expression`, `metrics` keys are the expression's variable ids."""

    id: str
    severity: Severity
    summary: str
    metrics: Mapping[str, MetricSpec]
    compare: Compare
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    missing: Missing
    missing_reason: str
    expression: str | None = None
    expression_period_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.expression is None and len(self.metrics) != 1:
            raise ValueError(f"alarm {self.id}: several metrics need an expression")


@dataclass(frozen=True)
class WatchedMetric:
    alarm: str
    namespace: str
    name: str
    dimensions: Mapping[str, str]


def _relay(name: str, statistic: str, period_seconds: int) -> MetricSpec:
    return MetricSpec(METRICS_NAMESPACE, name, statistic, period_seconds)


def alarm_specs(config: EnvironmentConfig) -> tuple[AlarmSpec, ...]:
    balance_period = config.balance_check_minutes * 60
    functions = Resource.functions(config)
    return (
        AlarmSpec(
            id="DeliveryDegraded",
            severity=Severity.PAGE,
            summary=(
                f"More than {config.stuck_ratio_threshold:.0%} of the orders accepted in a "
                f"{AlarmThreshold.STUCK_WINDOW_SECONDS // 60}-minute window were not delivered "
                f"within it, for {AlarmThreshold.STUCK_EVALUATION_PERIODS} consecutive minutes."
            ),
            metrics={"ratio": _relay(Metric.STUCK_ORDER_RATIO, "Maximum", 60)},
            compare=Compare.GREATER,
            # cdk.json holds a fraction; the stuck monitor emits StuckOrderRatio in percent.
            threshold=round(config.stuck_ratio_threshold * 100, 6),
            evaluation_periods=AlarmThreshold.STUCK_EVALUATION_PERIODS,
            datapoints_to_alarm=AlarmThreshold.STUCK_EVALUATION_PERIODS,
            missing=Missing.NOT_BREACHING,
            missing_reason=(
                "the stuck monitor publishes a ratio every minute (0 for an empty cohort); a gap "
                "means it did not run, which RelayFunctionErrors reports, and must not hold a page"
            ),
        ),
        AlarmSpec(
            id="DeadLetters",
            severity=Severity.PAGE,
            summary="Orders are waiting in the dead-letter queue: redrive or resolve them.",
            metrics={
                "visible": MetricSpec(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "Maximum",
                    60,
                    {"QueueName": placeholder(Resource.DEAD_LETTER_QUEUE)},
                )
            },
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            missing=Missing.NOT_BREACHING,
            missing_reason="SQS stops publishing metrics for a queue that has been idle (empty)",
        ),
        AlarmSpec(
            id="LowBalance",
            severity=Severity.PAGE,
            summary=(
                f"Estimated FoxReload balance is below {config.low_balance_spend_multiple:g} x "
                "the last 24 h of spend (or nothing is left): top up before orders fail."
            ),
            metrics={
                "balance": _relay(Metric.ESTIMATED_BALANCE, "Minimum", balance_period),
                "spend": _relay(Metric.SPEND_24H, "Maximum", balance_period),
            },
            # Negative when balance < k x spend, and -1 when the balance is gone even though
            # nothing was spent lately (k x 0 would otherwise never be undercut).
            expression=(
                f"IF(balance <= 0, -1, balance - {config.low_balance_spend_multiple:g} "
                "* FILL(spend, 0))"
            ),
            expression_period_seconds=balance_period,
            compare=Compare.LESS,
            threshold=0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            missing=Missing.IGNORE,
            missing_reason=(
                "a gauge sampled every balance check; a skipped sample says nothing about the "
                "balance, so the alarm keeps its state (monitor failures: RelayFunctionErrors)"
            ),
        ),
        AlarmSpec(
            id="BalanceUnknown",
            severity=Severity.TICKET,
            summary=(
                "The balance monitor has no FoxReload balance to work from (no operator record, "
                "and no balance endpoint or it failed), so LowBalance cannot fire."
            ),
            metrics={"unknown": _relay(Metric.BALANCE_UNKNOWN, "Minimum", balance_period)},
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            missing=Missing.IGNORE,
            missing_reason=(
                "published every balance check: a period the schedule's jitter left empty says "
                "nothing, so the alarm keeps its state (monitor failures: RelayFunctionErrors)"
            ),
        ),
        AlarmSpec(
            id="BalanceFailureSignals",
            severity=Severity.PAGE,
            summary=(
                "FoxReload reported a balance failure (payment_failure cancellation, an order "
                "stuck in active past paymentExpiresAt, or BalanceNotEnough)."
            ),
            metrics={"signals": _relay(Metric.BALANCE_FAILURE_SIGNALS, "Sum", 300)},
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            missing=Missing.NOT_BREACHING,
            missing_reason="a count published only when a signal is seen: no data means none",
        ),
        AlarmSpec(
            id="AuthFailures",
            severity=Severity.PAGE,
            summary=(
                "FoxReload rejected the API key (401/403): every order is blocked. Check the key "
                "and its IP allowlist."
            ),
            metrics={"auth": _relay(Metric.AUTH_FAILURES, "Sum", 300)},
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            missing=Missing.NOT_BREACHING,
            missing_reason="a count published only when a 401/403 is seen: no data means none",
        ),
        AlarmSpec(
            id="ApiErrorRate",
            severity=Severity.TICKET,
            summary=(
                f"More than {config.api_error_rate_threshold:.0%} of FoxReload polls failed "
                "(5xx, timeouts, connection errors, malformed replies) for 10 minutes: "
                "likely a supplier outage."
            ),
            metrics={
                "errors": _relay(Metric.API_ERRORS, "Sum", 300),
                "attempts": _relay(Metric.POLL_ATTEMPTS, "Sum", 300),
            },
            # Below the minimum sample the rate is noise (1 failed poll of 2 is not an outage).
            expression=(
                f"IF(attempts >= {config.api_error_min_attempts}, FILL(errors, 0) / attempts, 0)"
            ),
            expression_period_seconds=300,
            compare=Compare.GREATER,
            threshold=config.api_error_rate_threshold,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            missing=Missing.NOT_BREACHING,
            missing_reason=(
                "no polls means no error rate; polling that stopped altogether shows up in "
                "OrdersOlderThanDeadline and DeliveryDegraded instead"
            ),
        ),
        AlarmSpec(
            id="OrdersOlderThanDeadline",
            severity=Severity.TICKET,
            summary=(
                f"The oldest order message is older than the {config.give_up_after_seconds:g} s "
                "deadline for 5 minutes: the poller is not keeping up or not running."
            ),
            metrics={
                "age": MetricSpec(
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "Maximum",
                    60,
                    {"QueueName": placeholder(Resource.ORDERS_QUEUE)},
                )
            },
            compare=Compare.GREATER,
            threshold=config.give_up_after_seconds,
            evaluation_periods=5,
            datapoints_to_alarm=5,
            missing=Missing.NOT_BREACHING,
            missing_reason="SQS stops publishing metrics for a queue that has been idle (empty)",
        ),
        AlarmSpec(
            id="StorefrontUnavailable",
            severity=Severity.PAGE,
            summary=(
                "The storefront's webhook keeps failing: the circuit breaker is open and "
                "completed orders are parked (nothing is lost; they drain once it answers)."
            ),
            metrics={"open": _relay(Metric.STOREFRONT_UNAVAILABLE, "Sum", 60)},
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            missing=Missing.NOT_BREACHING,
            missing_reason="published only while the breaker is open: no data means closed",
        ),
        AlarmSpec(
            id="WebhookAuthFailures",
            severity=Severity.TICKET,
            summary=(
                "The storefront answered 401/403 to signed webhooks (a secret rotation half done, "
                "or a malformed secret value): deliveries are retried, late."
            ),
            metrics={"auth": _relay(Metric.WEBHOOK_AUTH_FAILURES, "Sum", 300)},
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            missing=Missing.NOT_BREACHING,
            missing_reason="a count published only when a 401/403 is seen: no data means none",
        ),
        AlarmSpec(
            id="BacklogAge",
            severity=Severity.TICKET,
            summary=(
                "Orders have waited for the FoxReload request budget for longer than the "
                "deadline (overload or a mass redrive): they are slower, none is dead-lettered."
            ),
            metrics={"age": _relay(Metric.BACKLOG_AGE_SECONDS, "Maximum", 300)},
            compare=Compare.GREATER,
            threshold=config.give_up_after_seconds,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            missing=Missing.NOT_BREACHING,
            missing_reason="published only when an order waits for budget: no data means none",
        ),
        AlarmSpec(
            id="RelayFunctionErrors",
            severity=Severity.TICKET,
            summary=(
                "A relay function crashed or timed out in 2 of the last 3 five-minute periods "
                "(the poller retries the batch; the monitors skip a sample; a later sweeper "
                "run takes over once the lease expires, and per-order polls cover the gap)."
            ),
            metrics={
                f"errors{index}": MetricSpec(
                    "AWS/Lambda", "Errors", "Sum", 300, {"FunctionName": placeholder(function)}
                )
                for index, function in enumerate(functions)
            },
            expression=" + ".join(f"FILL(errors{index}, 0)" for index in range(len(functions))),
            expression_period_seconds=300,
            compare=Compare.GREATER,
            threshold=0,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            missing=Missing.NOT_BREACHING,
            missing_reason="Lambda publishes Errors only for periods with invocations",
        ),
    )


def watched_metrics(
    config: EnvironmentConfig, resource_names: Mapping[str, str] | None = None
) -> list[WatchedMetric]:
    """(alarm, namespace, name, dimensions) of every metric every alarm watches.

    Without `resource_names`, AWS metrics keep their placeholders (`placeholder(Resource.X)`).
    """
    return [
        WatchedMetric(
            alarm=spec.id,
            namespace=metric.namespace,
            name=metric.name,
            dimensions={
                key: value.format_map(resource_names) if resource_names else value
                for key, value in metric.dimensions.items()
            },
        )
        for spec in alarm_specs(config)
        for metric in spec.metrics.values()
    ]


def relay_watched_metrics(config: EnvironmentConfig) -> list[WatchedMetric]:
    """Only the metrics the relay's own code must emit (namespace METRICS_NAMESPACE)."""
    return [m for m in watched_metrics(config) if m.namespace == METRICS_NAMESPACE]


def alarm_name(stack_name: str, alarm_id: str) -> str:
    return f"{stack_name}-{alarm_id}"


class RelayAlarms(Construct):
    """Builds `alarm_specs` into CloudWatch alarms wired to the page / ticket topics."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        resource_names: Mapping[str, str],
        topics: Mapping[Severity, sns.ITopic],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cw.Alarm] = {}
        for spec in alarm_specs(config):
            alarm = cw.Alarm(
                self,
                spec.id,
                alarm_name=alarm_name(config.stack_name, spec.id),
                alarm_description=_description(spec),
                metric=_metric(spec, resource_names),
                comparison_operator=_COMPARE[spec.compare],
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                treat_missing_data=_MISSING[spec.missing],
            )
            action = cw_actions.SnsAction(topics[spec.severity])
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[spec.id] = alarm


_COMPARE = {
    Compare.GREATER: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    Compare.LESS: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
}
_MISSING = {
    Missing.NOT_BREACHING: cw.TreatMissingData.NOT_BREACHING,
    Missing.BREACHING: cw.TreatMissingData.BREACHING,
    Missing.IGNORE: cw.TreatMissingData.IGNORE,
    Missing.MISSING: cw.TreatMissingData.MISSING,
}


def _description(spec: AlarmSpec) -> str:
    return (
        f"[{spec.severity.value}] {spec.summary} Missing data: {spec.missing.value}, because "
        f"{spec.missing_reason}. Runbook: {RUNBOOK}, entry {spec.id}."
    )


def cdk_metric(metric: MetricSpec, resource_names: Mapping[str, str]) -> cw.Metric:
    return cw.Metric(
        namespace=metric.namespace,
        metric_name=metric.name,
        dimensions_map={k: v.format_map(resource_names) for k, v in metric.dimensions.items()},
        statistic=metric.statistic,
        period=Duration.seconds(metric.period_seconds),
    )


def _metric(spec: AlarmSpec, resource_names: Mapping[str, str]) -> cw.IMetric:
    if spec.expression is None:
        (only,) = spec.metrics.values()
        return cdk_metric(only, resource_names)
    return cw.MathExpression(
        expression=spec.expression,
        using_metrics={k: cdk_metric(m, resource_names) for k, m in spec.metrics.items()},
        period=Duration.seconds(spec.expression_period_seconds or 300),
        label=spec.id,
    )
