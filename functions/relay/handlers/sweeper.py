"""Sweeper Lambda. Invoked every minute by EventBridge and, when the stack gives it a tick queue,
by its own delayed "sweep again" messages (an SQS event source, one message a batch).

With a tick queue a run sweeps once and sends the next sweep as a tick delayed by the pause, so
no run is billed for sleeping; a scheduled run starts a chain only when none holds the lease.
Without one, a scheduled run sweeps until shortly before the function's time runs out, then
lets the next scheduled run take over the lease.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.domain.sweep_tick import MalformedTick, Tick
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
    tick = None
    records = event.get("Records")
    if isinstance(records, list) and records:
        try:
            tick = Tick.from_body(str(records[0].get("body", "")))
        except MalformedTick as exc:
            # Not the sweeper's: drop it (a retry would fail the same way); the schedule
            # keeps the sweep going.
            logger.warning("ignoring a malformed tick (%s)", exc)
            return {"sweeps": 0}
    remaining = context.get_remaining_time_in_millis() / 1000.0
    until = sweep.deps.clock() + max(0.0, remaining - _MARGIN_SECONDS)
    stats = asyncio.run(sweep.run(until, tick))
    logger.info(
        "swept %d times, %d pages, %d delivered", stats.sweeps, stats.pages, stats.delivered
    )
    return {"sweeps": stats.sweeps, "pages": stats.pages, "delivered": stats.delivered}
