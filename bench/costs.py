"""AWS cost per 1M orders, computed from the requests the simulation counted.

PRICES ARE LIST PRICES AS KNOWN TO THE AUTHOR (AWS public pricing pages as published through
2025), written down on 2026-11-27. They were not fetched from AWS for this run: re-check them on
the AWS pricing pages before quoting a figure. Free tiers are ignored (a production account
usually exhausts them). Fixed monthly costs (secrets, custom metrics, idle ESM long polls,
alarms) do not scale with orders and are listed separately in docs/performance.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.des import Environment, Result

PRICES_AS_OF = "2026-11-27 (list prices as known from AWS pages published through 2025; re-check)"

# region -> item -> USD
PRICES: dict[str, dict[str, float]] = {
    "us-east-1": {
        "lambda_request": 0.20 / 1e6,
        "lambda_gb_second_arm64": 0.0000133334,
        "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
        "ddb_write_unit": 0.625 / 1e6,  # on-demand WRU (after the Nov 2024 price cut)
        "ddb_read_unit": 0.125 / 1e6,  # on-demand RRU
        "logs_ingest_gb": 0.50,
        "secrets_api_call": 0.05 / 1e4,
    },
    "eu-west-1": {
        "lambda_request": 0.20 / 1e6,
        "lambda_gb_second_arm64": 0.0000133334,
        "sqs_request": 0.40 / 1e6,
        "ddb_write_unit": 0.7063 / 1e6,  # approximate: re-check
        "ddb_read_unit": 0.1413 / 1e6,  # approximate: re-check
        "logs_ingest_gb": 0.57,
        "secrets_api_call": 0.05 / 1e4,
    },
}


@dataclass(frozen=True)
class UsageModel:
    """How counted events turn into billed units (assumptions, stated)."""

    memory_gb: float = 0.25  # poller and sweeper at 256 MB, arm64
    handler_overhead: float = 0.03  # seconds of a receive without an API call (ledger, SQS)
    messages_per_invocation: float = 1.0  # conservative: ESM batching only lowers requests
    log_bytes_per_receive: int = 800  # an INFO line (~600 B) + its share of the EMF blob
    log_bytes_per_sweep_page: int = 600
    invocations_per_cold_start: int = 1000  # each cold start reads 2 secrets
    sweeper_runs_continuously: bool = True  # a 1-minute scheduled Lambda looping over sweeps


def usage_per_order(result: Result, env: Environment, model: UsageModel) -> dict[str, float]:
    w = result.window
    orders = max(1, result.measured_orders)
    poll_calls = w.api_requests - w.list_requests
    poller_seconds = (
        w.receives * model.handler_overhead
        + poll_calls * env.api_latency
        + (w.webhooks - w.sweep_webhooks) * env.webhook_latency
    )
    if result.window.sweeps and model.sweeper_runs_continuously:
        sweeper_seconds = result.window_seconds  # billed for the whole loop, sleeps included
    else:
        sweeper_seconds = w.sweeper_seconds
    sweeper_invocations = result.window_seconds / 60.0 if w.sweeps else 0.0
    invocations = w.receives / model.messages_per_invocation + sweeper_invocations
    sqs = (
        orders  # the storefront's SendMessage
        + w.receives / model.messages_per_invocation  # ReceiveMessage (upper bound)
        + w.change_visibility
        + w.deletes
        + w.dlq_sends
    )
    return {
        "lambda_invocations": invocations / orders,
        "lambda_gb_seconds": (poller_seconds + sweeper_seconds) * model.memory_gb / orders,
        "sqs_requests": sqs / orders,
        "ddb_writes": (w.ledger_writes + w.budget_writes + w.sweeps) / orders,
        # a token take is a GetItem + a conditional PutItem on the bucket item
        "ddb_reads": (w.ledger_reads + w.budget_writes + w.coverage_reads) / orders,
        "log_gb": (
            w.receives * model.log_bytes_per_receive
            + w.sweep_pages * model.log_bytes_per_sweep_page
        )
        / 1e9
        / orders,
        "secrets_calls": 2 * invocations / model.invocations_per_cold_start / orders,
        "api_requests": w.api_requests / orders,
    }


def cost_per_million(usage: dict[str, float], region: str) -> dict[str, float]:
    p = PRICES[region]
    parts = {
        "lambda": usage["lambda_invocations"] * p["lambda_request"]
        + usage["lambda_gb_seconds"] * p["lambda_gb_second_arm64"],
        "sqs": usage["sqs_requests"] * p["sqs_request"],
        "dynamodb": usage["ddb_writes"] * p["ddb_write_unit"]
        + usage["ddb_reads"] * p["ddb_read_unit"],
        "cloudwatch_logs": usage["log_gb"] * p["logs_ingest_gb"],
        "secrets_manager": usage["secrets_calls"] * p["secrets_api_call"],
    }
    parts = {k: v * 1e6 for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts
