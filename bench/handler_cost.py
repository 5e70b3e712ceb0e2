"""Handler batch cost: the real poller handler on a batch of 10, against the FoxReload simulator
and AWS emulated with realistic latency.

Setup: the simulator on loopback answering every request after 100 ms (its `slow` fault at
rate 1), the local storefront receiver for webhooks, Amazon DynamoDB Local for DynamoDB (a
real engine that serves calls concurrently; its own answer stands for the service's latency)
and moto in server mode as a separate process for SQS and Secrets Manager (and for DynamoDB
when DynamoDB Local is not installed). Every call to moto first waits a seeded delay per
service (`bench/aws_latency.py`: DynamoDB 5-10 ms, SQS and Secrets Manager 10-20 ms), on the
calling thread, as the network wait it stands for would; the emulator's own answer comes on
top, so the AWS part is if anything pessimistic. Two
batch shapes are timed:
- `completed`: 10 orders already completed -> 10 polls, 10 ledger claims, 10 webhooks;
- `pending`: 10 orders still processing -> 10 polls, 10 ChangeMessageVisibility.
Each figure is the median of several batches and is reported relative to the median of single
`GET /api/orders/{id}` round trips against the same simulator: a handler that handles its batch
concurrently costs about one round trip plus its AWS calls in sequence for one record, a
serial one about ten.

A failure is returned as {"failed": reason}; `make bench` then prints it and exits 1.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.aws_latency import AWS_LATENCY, InjectedLatency
from local_stack.esm_runner import lambda_record

LATENCY = 0.1
BATCH = 10
ROUNDS = 5
API_KEY = "bench-key"
WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105 - a local test value
REGION = "eu-west-1"
SHAPES = {
    "completed": [["processing", 0], ["completed", 0.01]],
    "pending": [["processing", 0]],
}


def measure(rounds: int = ROUNDS, seed: int = 7) -> dict[str, Any]:
    # Powertools reads these when the handler module is imported, so set them first.
    for name, value in (
        ("POWERTOOLS_METRICS_NAMESPACE", "Bench"),
        ("POWERTOOLS_SERVICE_NAME", "bench"),
        ("POWERTOOLS_TRACE_DISABLED", "true"),
        ("POWERTOOLS_LOG_LEVEL", "WARNING"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        os.environ.setdefault(name, value)
    import boto3  # noqa: PLC0415 - after the environment above is set
    import httpx  # noqa: PLC0415

    from local_stack.emulators import Emulators, patched_environ  # noqa: PLC0415
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
    # DynamoDB Local when installed (moto's DynamoDB otherwise), moto for the rest.
    emulators = Emulators(region=REGION, allow_moto_dynamodb=True)
    saved = dict(os.environ)
    try:
        emulators.start()
        injected, aws = _latency_for(emulators.uses_dynamodb_local)
        with (
            FoxReloadSimulator(config) as sim,
            StorefrontReceiver(WEBHOOK_SECRET) as store,
            patched_environ(emulators.aws_env()),
        ):
            # The set-up's own clients come from a session without the injected latency.
            world = _World(boto3.session.Session(), ledger_table_definition, sim, store)
            latency = InjectedLatency(injected, seed=seed)
            boto3.setup_default_session()  # the handler's clients: boto3.client(...)
            latency.install(boto3.DEFAULT_SESSION)
            poller._runtime = None  # a fresh runtime, its clients made after the hook
            # As in Lambda, Powertools then keeps one event loop across invocations (and with
            # it the HTTP connections); elsewhere it would start a new loop per invocation.
            os.environ["LAMBDA_TASK_ROOT"] = str(Path(poller.__file__).resolve().parents[2])
            round_trip = _round_trips(httpx, sim, rounds * 2)
            out: dict[str, Any] = {
                "api_round_trip_s": round_trip,
                "batch_size": BATCH,
                "latency_s": LATENCY,
                "aws_latency_s": {k: list(v) for k, v in injected.items()},
                "aws": aws,
            }
            # One untimed batch: secrets, clients and connections, as a warm container has.
            with contextlib.redirect_stdout(io.StringIO()):
                poller.handler(world.batch(SHAPES["completed"]), _Context())
            latency.answered.clear()
            gate = _GateTimer(poller.runtime().relay.gate)
            for shape in SHAPES:
                out[shape] = _time_batches(poller, world, latency, shape, rounds, gate)
                out[shape]["vs_round_trip"] = out[shape]["median_s"] / round_trip
            out["emulator_answer_s"] = statistics.median(latency.answered)
            out["webhooks_received"] = world.delivered()
            return out
    except Exception as exc:  # report it with the rest, and make the run exit non-zero
        return {"failed": f"handler batch could not run: {type(exc).__name__}: {exc}"}
    finally:
        emulators.stop()
        poller._runtime = None
        boto3.DEFAULT_SESSION = None
        os.environ.clear()
        os.environ.update(saved)


def _latency_for(dynamodb_local: bool) -> tuple[dict[str, tuple[float, float]], str]:
    """The delays to inject per service, and how the report names the AWS side. DynamoDB
    Local's own answer (~10-35 ms a call here, served concurrently) stands for DynamoDB's
    latency, so nothing is injected on top of it; moto gets the modelled delays."""
    injected = dict(AWS_LATENCY)
    aws = "moto server (separate process) + injected latency"
    if not dynamodb_local:
        return injected, aws
    injected["dynamodb"] = (0.0, 0.0)
    return injected, "DynamoDB Local (its own answer); SQS, Secrets Manager: " + aws


def _time_batches(
    poller: Any, world: _World, latency: InjectedLatency, shape: str, rounds: int, gate: _GateTimer
) -> dict[str, Any]:
    times, logged, calls, gate_waits = [], 0, Counter[str](), []
    for _ in range(rounds):
        gate.waits.clear()
        event = world.batch(SHAPES[shape])
        before = Counter(latency.calls)
        captured = io.StringIO()  # Powertools logs and EMF metrics go to stdout
        with contextlib.redirect_stdout(captured):
            started = time.perf_counter()
            response = poller.handler(event, _Context())
            times.append(time.perf_counter() - started)
        calls += Counter(latency.calls) - before
        logged += len(captured.getvalue().encode())
        world.check(shape, response)
        gate_waits.append(max(gate.waits, default=0.0))
    median = statistics.median(times)
    return {
        "median_s": median,
        "gate_longest_s": statistics.median(gate_waits),
        "runs_s": times,
        "log_bytes_per_message": logged / (rounds * BATCH),
        "aws_calls_per_message": {k: v / (rounds * BATCH) for k, v in calls.items()},
    }


class _GateTimer:
    """Times the poll gate's check (the rate-budget token) of every record of a batch."""

    def __init__(self, gate: Any) -> None:
        self.waits: list[float] = []
        check = gate.check

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return check(*args, **kwargs)
            finally:
                self.waits.append(time.perf_counter() - started)

        gate.check = timed


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
    def __init__(self, session: Any, table_definition: Any, sim: Any, store: Any) -> None:
        self.sim, self.store = sim, store
        self.sqs = session.client("sqs", region_name=REGION)
        ddb = session.client("dynamodb", region_name=REGION)
        secrets = session.client("secretsmanager", region_name=REGION)
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
            arn = f"arn:aws:sqs:{REGION}:123456789012:bench-orders"
            records += [lambda_record(m, arn, REGION) for m in got]
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
    aws = ", ".join(
        f"{name} {1000 * low:.0f}-{1000 * high:.0f} ms"
        for name, (low, high) in result["aws_latency_s"].items()
    )
    lines = [
        f"handler batch cost (batch of {result['batch_size']}, simulator latency "
        f"{1000 * result['latency_s']:.0f} ms; one API round trip = {1000 * rt:.0f} ms; "
        f"AWS: {result['aws']}, {aws}; the emulator's answer adds a median "
        f"{1000 * result['emulator_answer_s']:.0f} ms per call):"
    ]
    for shape in ("completed", "pending"):
        r = result[shape]
        calls = ", ".join(f"{v:.1f} {k}" for k, v in sorted(r["aws_calls_per_message"].items()))
        lines.append(
            f"  {shape:9} batch: {1000 * r['median_s']:.0f} ms = "
            f"{r['vs_round_trip']:.2f} x one round trip; the last record's poll gate "
            f"{1000 * r['gate_longest_s']:.0f} ms; AWS calls per message: {calls}; "
            f"{r['log_bytes_per_message']:.0f} log bytes per message"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(measure()))
