"""Sweeper Lambda (EventBridge, every minute): sweep FoxReload's order list until shortly before
the function's time runs out, then let the next scheduled run take over the lease."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.names import TRACED_MODULES
from relay.runtime import build_relay_deps
from relay.service.sweeper import Sweeper
from relay.settings import SWEEPER_END_MARGIN_SECONDS

logger = Logger()
metrics = Metrics()
tracer = Tracer(patch_modules=TRACED_MODULES)
_sweeper: Sweeper | None = None
# Stop this long before the function's timeout: requests and sends are bounded by the run's
# end, and the lease must still be released and the coverage written cleanly.
_MARGIN_SECONDS = SWEEPER_END_MARGIN_SECONDS


def sweeper() -> Sweeper:
    global _sweeper  # noqa: PLW0603 - one sweeper per cold start: it keeps what it learned
    if _sweeper is None:
        _sweeper = Sweeper(build_relay_deps(os.environ, logger, metrics))
    return _sweeper


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sweep = sweeper()
    if not sweep.deps.settings.sweep_enabled:
        logger.info("sweep disabled (SWEEP_ENABLED is not true); nothing to do")
        return {"sweeps": 0}
    remaining = context.get_remaining_time_in_millis() / 1000.0
    until = sweep.deps.clock() + max(0.0, remaining - _MARGIN_SECONDS)
    stats = asyncio.run(sweep.run(until))
    logger.info(
        "swept %d times, %d pages, %d delivered", stats.sweeps, stats.pages, stats.delivered
    )
    return {"sweeps": stats.sweeps, "pages": stats.pages, "delivered": stats.delivered}
