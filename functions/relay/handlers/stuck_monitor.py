"""Stuck-order monitor Lambda (EventBridge schedule, every minute): thin entry point.

Publishes StuckOrderRatio (percent), StuckOrders and OrdersInStuckWindow for the cohort of orders
accepted in (now - 2W, now - W], judged from the ledger (relay.domain.stuck_orders explains the
definition and why it counts each order once whatever SQS redelivers).
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.monitor_runtime import StuckDeps
from relay.names import TRACED_MODULES
from relay.service.monitors import check_stuck, publish_stuck

logger = Logger()
metrics = Metrics()
tracer = Tracer(patch_modules=TRACED_MODULES)
_LOGGED_IDS: Final = 20
_runtime: StuckDeps | None = None


def runtime() -> StuckDeps:
    global _runtime  # noqa: PLW0603 - one runtime per cold start, built on first use
    if _runtime is None:
        _runtime = StuckDeps.from_env(os.environ)
    return _runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = runtime()
    settings = deps.settings
    report = check_stuck(deps.queries, time.time(), settings.stuck_window_seconds)
    publish_stuck(report, metrics)
    summary: dict[str, Any] = {
        "window_start": report.window.start,
        "window_end": report.window.end,
        "orders": report.orders,
        "stuck": report.stuck,
        "stuck_percent": round(report.percent, 4),
    }
    if report.percent > settings.stuck_ratio_percent:
        logger.warning(
            "stuck orders above threshold",
            extra={**summary, "stuck_order_ids": list(report.stuck_order_ids[:_LOGGED_IDS])},
        )
    else:
        logger.info("stuck orders checked", extra=summary)
    return summary
