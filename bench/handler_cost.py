"""Handler batch cost: the real poller handler on a batch of 10 against the FoxReload simulator.

Setup: the simulator on loopback answering every request after 100 ms (its `slow` fault at
rate 1), the local storefront receiver for webhooks, and moto's in-process SQS, DynamoDB and
Secrets Manager (so AWS calls cost microseconds, and what is measured is the handler's own
overhead plus its FoxReload and webhook round trips). Two batches shapes are timed:
- `completed`: 10 orders already completed -> 10 polls, 10 ledger claims, 10 webhooks;
- `pending`: 10 orders still processing -> 10 polls, 10 ChangeMessageVisibility.
Each figure is the median of several batches and is reported relative to the median of single
`GET /api/orders/{id}` round trips against the same simulator: a handler that polls its batch
concurrently costs about one round trip (plus the webhook's), a serial one about ten.

A failure is returned as {"failed": reason}; `make bench` then prints it and exits 1.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
from typing import Any

from local_stack.esm_runner import lambda_record

LATENCY = 0.1
BATCH = 10
ROUNDS = 5
API_KEY = "bench-key"
WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105 - a local test value


def measure(rounds: int = ROUNDS) -> dict[str, Any]:
    # Powertools reads these when the handler module is imported, so set them first.
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    import boto3  # noqa: PLC0415 - after the environment above is set
    import httpx  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from local_stack.moto_atomic import atomic_moto_requests  # noqa: PLC0415
    from local_stack.provision import ledger_table_definition  # noqa: PLC0415
    from local_stack.storefront_receiver import StorefrontReceiver  # noqa: PLC0415
    from relay.handlers import poller  # noqa: PLC0415
    from simulator.config import SimulatorConfig  # noqa: PLC0415
    from simulator.faults import FaultProfile  # noqa: PLC0415
    from simulator.server import FoxReloadSimulator  # noqa: PLC0415

    faults = FaultProfile(
        name="latency-100ms", slow_rate=1.0, slow_min_seconds=LATENCY, slow_max_seconds=LATENCY
    )
    config = SimulatorConfig(
        api_keys=(API_KEY,), rate_limit_per_minute=100_000, faults=faults, seed=7
    )
    saved = dict(os.environ)
    try:
        with (
            FoxReloadSimulator(config) as sim,
            StorefrontReceiver(WEBHOOK_SECRET) as store,
            atomic_moto_requests(),  # the batch calls AWS from several threads
            mock_aws(),
        ):
            os.environ.update(
                {
                    "AWS_DEFAULT_REGION": "eu-west-1",
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                }
            )
            world = _World(boto3, ledger_table_definition, sim, store)
            poller._runtime = None  # a fresh runtime for this environment
            round_trip = _round_trips(httpx, sim, rounds * 2)
            out: dict[str, Any] = {
                "api_round_trip_s": round_trip,
                "batch_size": BATCH,
                "latency_s": LATENCY,
            }
            for shape, timeline in (
                ("completed", [["processing", 0], ["completed", 0.01]]),
                ("pending", [["processing", 0]]),
            ):
                times, logged = [], 0
                for _ in range(rounds):
                    event = world.batch(timeline)
                    captured = io.StringIO()  # Powertools logs and EMF metrics go to stdout
                    with contextlib.redirect_stdout(captured):
                        started = time.perf_counter()
                        response = poller.handler(event, _Context())
                        times.append(time.perf_counter() - started)
                    logged += len(captured.getvalue().encode())
                    world.check(shape, response)
                median = statistics.median(times)
                out[shape] = {
                    "median_s": median,
                    "vs_round_trip": median / round_trip,
                    "runs_s": times,
                    "log_bytes_per_message": logged / (rounds * BATCH),
                }
            out["webhooks_received"] = world.delivered()
            return out
    except Exception as exc:  # report it with the rest, and make the run exit non-zero
        return {"failed": f"handler batch could not run: {type(exc).__name__}: {exc}"}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _round_trips(httpx: Any, sim: Any, n: int) -> float:
    order = sim.create_order(timeline=[["processing", 0], ["completed", 0.01]])
    times = []
    with httpx.Client(base_url=sim.base_url, headers={"X-API-Key": API_KEY}) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.get(f"/api/orders/{order['id']}").raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


class _World:
    def __init__(self, boto3: Any, table_definition: Any, sim: Any, store: Any) -> None:
        self.sim, self.store = sim, store
        self.sqs = boto3.client("sqs", region_name="eu-west-1")
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        self.dlq_url = self.sqs.create_queue(QueueName="bench-dlq")["QueueUrl"]
        self.queue_url = self.sqs.create_queue(QueueName="bench-orders")["QueueUrl"]
        ddb.create_table(**table_definition("bench-ledger"))
        secrets.create_secret(Name="bench-fox-key", SecretString=API_KEY)
        secrets.create_secret(Name="bench-webhook", SecretString=WEBHOOK_SECRET)
        os.environ.update(
            {
                "FOXRELOAD_BASE_URL": sim.base_url,
                "FOXRELOAD_API_KEY_SECRET": "bench-fox-key",
                "LEDGER_TABLE": "bench-ledger",
                "ORDERS_QUEUE_URL": self.queue_url,
                "DLQ_URL": self.dlq_url,
                "SINK_WEBHOOK_URL": store.url,
                "SINK_WEBHOOK_SECRET": "bench-webhook",
                "ALLOW_INSECURE_HTTP": "true",  # the loopback simulator and receiver
                # The cost of one batch is measured, not the pacing: a budget far above what the
                # repeated batches spend, so no poll waits for a token.
                "FOXRELOAD_RATE_LIMIT_PER_MINUTE": "1000000",
                "POWERTOOLS_METRICS_NAMESPACE": "Bench",
                "POWERTOOLS_SERVICE_NAME": "bench",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )

    def batch(self, timeline: list[list[Any]]) -> dict[str, Any]:
        for _ in range(BATCH):
            order = self.sim.create_order(timeline=timeline)
            body = json.dumps({"v": 1, "order_id": order["id"]})
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
        records: list[dict[str, Any]] = []
        while len(records) < BATCH:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=BATCH - len(records),
                AttributeNames=["All"],
                VisibilityTimeout=300,
            ).get("Messages", [])
            arn = "arn:aws:sqs:eu-west-1:123456789012:bench-orders"
            records += [lambda_record(m, arn, "eu-west-1") for m in got]
        return {"Records": records}

    def check(self, shape: str, response: Any) -> None:
        failures = len(response.get("batchItemFailures", []))
        expected = 0 if shape == "completed" else BATCH
        if failures != expected:
            raise RuntimeError(f"{shape} batch: {failures} item failures, expected {expected}")

    def delivered(self) -> int:
        return len(getattr(self.store, "deliveries", lambda: [])())


class _Context:
    function_name = "poller"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:poller"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def describe(result: dict[str, Any] | None) -> str:
    if result is None:
        return "handler batch cost: not run (--skip-handler)"
    if "failed" in result:
        return f"handler batch cost: FAILED - {result['failed']}"
    rt = result["api_round_trip_s"]
    lines = [
        f"handler batch cost (batch of {result['batch_size']}, simulator latency "
        f"{1000 * result['latency_s']:.0f} ms; one API round trip = {1000 * rt:.0f} ms):"
    ]
    for shape in ("completed", "pending"):
        r = result[shape]
        lines.append(
            f"  {shape:9} batch: {1000 * r['median_s']:.0f} ms = "
            f"{r['vs_round_trip']:.1f} x one round trip; "
            f"{r['log_bytes_per_message']:.0f} log bytes per message"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(measure()))
