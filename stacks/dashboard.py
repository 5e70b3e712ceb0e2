"""One CloudWatch dashboard: delivery flow, lag, DLQ depth, API errors and throttles, balance,
and the completion sweep with the shared request budget."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from relay.domain.events import TERMINALS
from relay.names import METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME, ApiErrorKind, Metric
from relay.names import api_error_metric as api_error_metric_name
from stacks.config import EnvironmentConfig

_WIDTH = 12
_HEIGHT = 6


def relay_metric(
    name: str, statistic: str = "Sum", period: Duration | None = None, label: str | None = None
) -> cw.Metric:
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={SERVICE_DIMENSION: SERVICE_NAME},
        statistic=statistic,
        period=period or Duration.minutes(1),
        label=label or name,
    )


def _graph(title: str, left: Sequence[cw.IMetric], **kwargs: object) -> cw.GraphWidget:
    return cw.GraphWidget(title=title, left=list(left), width=_WIDTH, height=_HEIGHT, **kwargs)  # type: ignore[arg-type]


class RelayDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        orders_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        alarms: Sequence[cw.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        minute = Duration.minutes(1)
        balance_period = Duration.minutes(config.balance_check_minutes)

        delivery = _graph(
            "Delivery flow (orders per minute)",
            [
                relay_metric(Metric.ORDERS_ACCEPTED),
                *(relay_metric(row.metric) for row in TERMINALS),  # one per terminal status
                relay_metric(Metric.ORDERS_DEAD_LETTERED),
                relay_metric(Metric.POISON_MESSAGES),
            ],
            right=[
                relay_metric(Metric.DUPLICATE_SUPPRESSED),
                relay_metric(Metric.SETTLED_ORDER_MESSAGES),
                relay_metric(Metric.WEBHOOK_RETRIES),
            ],
        )
        lag = _graph(
            "Lag: time to deliver and oldest waiting order (seconds)",
            [
                relay_metric(Metric.TIME_TO_DELIVER_SECONDS, "p50", label="time to deliver p50"),
                relay_metric(Metric.TIME_TO_DELIVER_SECONDS, "p99", label="time to deliver p99"),
                relay_metric(Metric.DELIVERY_LAG_SECONDS, "p99", label="delivery lag p99"),
                orders_queue.metric_approximate_age_of_oldest_message(
                    statistic="Maximum", period=minute, label="oldest order message"
                ),
            ],
            right=[relay_metric(Metric.STUCK_ORDER_RATIO, "Maximum", label="stuck ratio")],
            left_annotations=[
                cw.HorizontalAnnotation(
                    value=config.give_up_after_seconds, label="give-up deadline"
                )
            ],
        )
        queues = _graph(
            "Queue depth",
            [
                dead_letter_queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=minute, label="DLQ visible"
                ),
            ],
            right=[
                orders_queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=minute, label="orders visible"
                ),
                orders_queue.metric_approximate_number_of_messages_not_visible(
                    statistic="Maximum", period=minute, label="orders in flight / waiting"
                ),
            ],
        )
        api = _graph(
            "FoxReload API: errors, throttles, auth failures",
            [
                *(relay_metric(api_error_metric_name(kind)) for kind in ApiErrorKind.ALL),
                relay_metric(Metric.THROTTLED),
                relay_metric(Metric.AUTH_FAILURES),
                relay_metric(Metric.UNKNOWN_STATUS),
            ],
            right=[relay_metric(Metric.POLL_ATTEMPTS)],
            stacked=True,
        )
        balance = _graph(
            "Balance",
            [
                relay_metric(Metric.ESTIMATED_BALANCE, "Minimum", balance_period),
                relay_metric(Metric.SPEND_24H, "Maximum", balance_period),
            ],
            right=[
                relay_metric(Metric.RUNWAY_HOURS, "Minimum", balance_period),
                relay_metric(Metric.BALANCE_FAILURE_SIGNALS, "Sum", balance_period),
            ],
        )
        # Shown with or without the sweeper: BudgetWaits and Throttled are the per-order pollers'
        # too (a flat zero for the sweep lines is what sweepEnabled=false looks like).
        sweep = _graph(
            "Completion sweep and request budget (per minute)",
            [
                relay_metric(Metric.SWEEP_REQUESTS, label="sweep list pages"),
                relay_metric(Metric.SWEEP_FOUND, label="found terminal by the sweep"),
                relay_metric(Metric.SWEEP_DEFERRALS, label="per-order polls skipped (swept)"),
            ],
            right=[
                relay_metric(Metric.BUDGET_WAITS, label="polls waiting for budget"),
                relay_metric(Metric.THROTTLED, label="429s"),
            ],
        )
        status = cw.AlarmStatusWidget(
            title="Alarms", alarms=list(alarms), width=_WIDTH * 2, height=_HEIGHT
        )

        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.stack_name,
            default_interval=Duration.hours(3),
            widgets=[[status], [delivery, lag], [queues, api], [balance, sweep]],
        )
