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
    sweeper_runs_continuously: bool = True  # without ticks: a scheduled run loops over sweeps
    sweep_run_seconds: float = 0.05  # with ticks: a sweep run's own time besides its requests
    # At idle (nothing in flight), each scheduled sweeper run asks the ledger's acceptance index
    # (one or two Queries) and releases its lease (one conditional write), then ends.
    idle_run_seconds: float = 0.2
    idle_run_queries: float = 1.5
    idle_run_writes: float = 1.0
    idle_run_log_bytes: int = 600  # one INFO line + Lambda's START/END/REPORT lines
    # The relay's scheduled monitors run whatever the load (stack: stuck check every minute,
    # balance check every 5 minutes); at idle each is a short run with one Query.
    monitor_runs_per_hour: float = 60.0 + 12.0
    monitor_run_seconds: float = 0.3
    monitor_log_bytes: int = 400
    # Lambda's SQS event source long-polls the orders queue whatever the load (about five
    # pollers, one ReceiveMessage per 20 s each): the same for any schedule.
    esm_receives_per_hour: float = 5 * 180.0


def usage_per_order(
    result: Result, env: Environment, model: UsageModel, sweeper_busy_share: float = 1.0
) -> dict[str, float]:
    """`sweeper_busy_share`: the share of the window in which the deployed sweeper would be
    looping (something in flight within its reach, see bench.run.sweeper_busy_share); it ends
    its run early otherwise, so only that share of the loop is billed."""
    w = result.window
    orders = max(1, result.measured_orders)
    poll_calls = w.api_requests - w.list_requests
    poller_seconds = (
        w.receives * model.handler_overhead
        + poll_calls * env.api_latency
        + (w.webhooks - w.sweep_webhooks) * env.webhook_latency
    )
    scheduled = result.sweeper or w.sweeps > 0
    tick_runs = 0.0
    if result.sweep_ticks:
        # Each sweep a run of its own (its tick sent, received, deleted; its lease turn
        # written) billed for its own time; the scheduled runs beside a chain end at once.
        # The DES's sweeper never idles; the deployed chain ends at an in-flight check that
        # finds nothing within reach, so only the busy share of its sweeps is billed.
        tick_runs = w.sweeps * sweeper_busy_share
        sweeper_seconds = (w.sweeper_seconds + w.sweeps * model.sweep_run_seconds) * (
            sweeper_busy_share
        )
        sweeper_seconds += result.window_seconds / 60.0 * model.idle_run_seconds
    elif scheduled and model.sweeper_runs_continuously:
        # billed for the whole loop, sleeps included, while it loops; a run that finds nothing
        # in flight, or finds per-order polling cheaper (sweep_mode_share), ends at once
        looping = sweeper_busy_share * (result.sweep_mode_share if result.sweeper else 1.0)
        short_runs = result.window_seconds / 60.0 * (1.0 - looping)
        sweeper_seconds = result.window_seconds * looping + short_runs * model.idle_run_seconds
    else:
        sweeper_seconds = w.sweeper_seconds
    sweeper_invocations = result.window_seconds / 60.0 if scheduled else 0.0
    sweeper_invocations += tick_runs
    invocations = w.receives / model.messages_per_invocation + sweeper_invocations
    sqs = (
        orders  # the storefront's SendMessage
        + w.receives / model.messages_per_invocation  # ReceiveMessage (upper bound)
        + w.change_visibility
        + w.deletes
        + w.dlq_sends
        + 3 * tick_runs  # each tick sent, received, deleted
    )
    return {
        "lambda_invocations": invocations / orders,
        "lambda_gb_seconds": (poller_seconds + sweeper_seconds) * model.memory_gb / orders,
        "sqs_requests": sqs / orders,
        # a sweep writes its coverage (and, in a tick chain, its lease turn); a scheduled run
        # beside a chain tries the lease once
        "ddb_writes": (
            w.ledger_writes
            + w.budget_writes
            + (2 * tick_runs + result.window_seconds / 60.0 if result.sweep_ticks else w.sweeps)
        )
        / orders,
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


def idle_cost_per_month(
    sweeper: bool, region: str, model: UsageModel | None = None
) -> dict[str, float]:
    """USD a month with no orders at all, by part: what keeps running at idle.

    Every schedule pays the event source's long polls of the orders queue; the relay also pays
    those of its tick queue, its scheduled sweeper runs (each ends at once when nothing is in
    flight) and its monitors.
    Fixed charges that do not depend on running anything (secrets stored, alarms, dashboards)
    are not in it (docs/performance.md lists them)."""
    m = model or UsageModel()
    p = PRICES[region]
    hours = 730.0
    parts = {"sqs_long_polls": m.esm_receives_per_hour * hours * p["sqs_request"]}
    if sweeper:
        # the tick queue's event source long-polls it too, ticks or not
        parts["sweep_tick_long_polls"] = m.esm_receives_per_hour * hours * p["sqs_request"]
        runs = 60.0 * hours
        parts["sweeper_idle_runs"] = runs * (
            p["lambda_request"]
            + m.idle_run_seconds * m.memory_gb * p["lambda_gb_second_arm64"]
            + m.idle_run_queries * p["ddb_read_unit"]
            + m.idle_run_writes * p["ddb_write_unit"]
            + m.idle_run_log_bytes / 1e9 * p["logs_ingest_gb"]
        )
        monitors = m.monitor_runs_per_hour * hours
        parts["monitors"] = monitors * (
            p["lambda_request"]
            + m.monitor_run_seconds * m.memory_gb * p["lambda_gb_second_arm64"]
            + p["ddb_read_unit"]
            + m.monitor_log_bytes / 1e9 * p["logs_ingest_gb"]
        )
    parts["total"] = sum(parts.values())
    return parts
