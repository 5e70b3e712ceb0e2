"""Balance monitor Lambda (EventBridge schedule, every 5 minutes): thin entry point.

Publishes EstimatedBalance, Spend24h and RunwayHours. The balance comes from the FoxReload
endpoint in BALANCE_ENDPOINT when one is set (falling back to the estimate if the read fails),
otherwise from the operator's last balance / top-up records minus the spend the poller recorded
since (relay.domain.balance), summed from the ledger's spend index (relay.adapters.spend_index).
The low-balance alarm compares EstimatedBalance with LOW_BALANCE_SPEND_MULTIPLE x Spend24h (the
cdk.json `lowBalanceSpendMultiple`);
BalanceUnknown is 1 while there is nothing to estimate from.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.adapters.balance_endpoint import BalanceReadError
from relay.domain.balance import DAY_SECONDS
from relay.monitor_runtime import BalanceDeps
from relay.names import TRACED_MODULES
from relay.service.monitors import check_balance, publish_balance

logger = Logger()
metrics = Metrics()
tracer = Tracer(patch_modules=TRACED_MODULES)


_runtime: BalanceDeps | None = None


def runtime() -> BalanceDeps:
    global _runtime  # noqa: PLW0603 - one runtime per cold start, built on first use
    if _runtime is None:
        _runtime = BalanceDeps.from_env(os.environ)
    return _runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    now = time.time()
    check = check_balance(
        rt.store,
        rt.spend,
        now,
        endpoint=rt.endpoint,
        endpoint_error_type=BalanceReadError,
        spend_multiple=rt.settings.low_balance_spend_multiple,
        history_seconds=rt.settings.ledger_ttl_days * DAY_SECONDS,
    )
    publish_balance(check, metrics)
    if check.endpoint_error is not None:
        logger.warning(
            "balance endpoint read failed; using the estimate",
            extra={"reason": check.endpoint_error},
        )
    if check.stale_basis:
        logger.warning(
            "the last balance record is older than the ledger's history: the estimate misses "
            "expired spend; record a fresh balance with `python -m operator_cli balance record`"
        )
    summary: dict[str, Any] = {"spend_24h": float(check.spend_24h)}
    if check.report is None:
        logger.warning(
            "no balance recorded and no balance endpoint: publishing Spend24h and "
            "BalanceUnknown only; "
            "record one with `python -m operator_cli balance record AMOUNT`",
            extra=summary,
        )
        return {**summary, "source": None}
    report = check.report
    summary |= {
        "source": report.source,
        "balance": float(report.balance),
        "runway_hours": round(report.runway_hours, 3),
        "low": report.low,
        "basis_since": None if report.basis is None else report.basis.since,
    }
    if report.low:
        multiple = rt.settings.low_balance_spend_multiple
        logger.warning(f"balance below {multiple:g} x the last 24 h spend", extra=summary)
    else:
        logger.info("balance checked", extra=summary)
    return summary
