"""Plays Lambda's SQS event source mapping (ESM) around a real handler, on the local stack.

What it reproduces, per poller (one OS process each, like one Lambda execution environment):
- long-poll ReceiveMessage with every system and message attribute;
- batching: up to `batch_size` records, waiting at most `batching_window_seconds` after the first
  record arrives for the batch to fill;
- the SQS event JSON Lambda passes (messageId, receiptHandle, body, attributes,
  messageAttributes in Lambda's lower-camel shape, md5OfBody, eventSource, eventSourceARN,
  awsRegion);
- `ReportBatchItemFailures`: only records not named in `batchItemFailures` are deleted; an
  invalid response or a raised exception fails the whole batch (nothing deleted, the messages
  reappear after their visibility timeout);
- a Lambda-like context with `get_remaining_time_in_millis()`.

The handler's environment (settings, AWS endpoints) is set in each process before the handler
module is imported, so it parses its settings once per "cold start" as on Lambda.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

DEFAULT_HANDLER = "relay.handlers.poller:handler"
SQS_MAX_BATCH = 10
# Lambda's system attributes in an SQS record (others that SQS returns are passed through too).
SYSTEM_ATTRIBUTES = ("All",)


@dataclass(frozen=True)
class EsmConfig:
    queue_url: str
    queue_arn: str
    region: str
    env: dict[str, str]  # the function's environment: settings + AWS endpoints/credentials
    handler: str = DEFAULT_HANDLER  # "module:attribute"
    function_name: str = "foxreload-relay-poller"
    batch_size: int = 10
    batching_window_seconds: float = 1.0
    timeout_seconds: int = 30
    memory_mb: int = 256
    pollers: int = 2
    wait_time_seconds: int = 2  # long-poll wait per ReceiveMessage; short so stop() is quick
    log_dir: Path | None = None  # each poller's stdout/stderr go to <log_dir>/poller-<n>.log

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.pollers < 1:
            raise ValueError("batch_size and pollers must be at least 1")
        if not 0 <= self.wait_time_seconds <= 20:
            raise ValueError("wait_time_seconds must be within 0..20 (SQS limit)")


# Per-poller counters in shared memory.
STAT_NAMES = (
    "invocations",
    "records",
    "deleted",
    "item_failures",
    "batch_errors",
    "over_timeout",
)


@dataclass
class EsmStats:
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    item_failures: int = 0
    batch_errors: int = 0  # handler raised, or returned an invalid response
    over_timeout: int = 0  # invocations that ran longer than the function timeout


class LambdaContext:
    """The attributes and method of Lambda's Python context object that handlers use.

    `config` is anything with function_name, region, memory_mb and timeout_seconds (the ESM's
    and the sweeper's configs); the remaining time counts down from the timeout.
    """

    def __init__(self, config: Any, account_id: str) -> None:
        self.function_name = config.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{config.region}:{account_id}:function:{config.function_name}"
        )
        self.memory_limit_in_mb = config.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{config.function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = time.monotonic() + config.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message in the shape of a Lambda SQS event record."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    import base64  # noqa: PLC0415

    out: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return out


def failed_ids(response: Any, message_ids: list[str]) -> set[str] | None:
    """Ids to keep, from a ReportBatchItemFailures response; None = the whole batch failed.

    As on Lambda: no response / an empty list means all succeeded; an identifier that is
    empty or not in the batch makes the whole response invalid.
    """
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return None
        ids.add(identifier)
    return ids


class _Poller:
    """The loop inside one poller process."""

    def __init__(
        self,
        config: EsmConfig,
        index: int,
        stop: EventType,
        stats: SynchronizedArray[Any],
        ready: Any,
    ) -> None:
        import boto3  # noqa: PLC0415 - after the environment is set

        self.config = config
        self.index = index
        self.stop = stop
        self.stats = stats
        self.sqs = boto3.client("sqs", region_name=config.region)
        self.account_id = config.queue_arn.split(":")[4]
        module_name, _, attr = config.handler.partition(":")
        self.handler: Callable[[dict[str, Any], Any], Any] = getattr(
            importlib.import_module(module_name), attr or "handler"
        )
        with ready.get_lock():
            ready.value += 1

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                messages = self._collect_batch()
            except Exception as exc:  # emulator hiccup: log, back off, go on
                print(f"esm poller {self.index}: receive failed: {exc!r}", flush=True)
                time.sleep(1.0)
                continue
            if messages:
                self._invoke(messages)

    def _collect_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while not self.stop.is_set():
            if window_ends is None:
                wait = self.config.wait_time_seconds
            else:
                wait = int(max(0.0, min(20.0, window_ends - time.monotonic())))
            response = self.sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=min(SQS_MAX_BATCH, self.config.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            batch.extend(received)
            if batch and window_ends is None:
                window_ends = time.monotonic() + self.config.batching_window_seconds
            if not batch:
                continue
            if len(batch) >= self.config.batch_size or time.monotonic() >= window_ends:
                break
            if not received:
                time.sleep(0.05)
        return batch

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = {
            "Records": [
                lambda_record(m, self.config.queue_arn, self.config.region) for m in messages
            ]
        }
        ids = [m["MessageId"] for m in messages]
        context = LambdaContext(self.config, self.account_id)
        started = time.monotonic()
        try:
            response = self.handler(event, context)
            keep = failed_ids(response, ids)
        except Exception as exc:  # a raised handler error fails the batch, as on Lambda
            print(f"esm poller {self.index}: handler raised {exc!r}", flush=True)
            keep = None
        self._add("invocations", 1)
        self._add("records", len(messages))
        if time.monotonic() - started > self.config.timeout_seconds:
            # Lambda would have stopped it at the timeout and discarded its response: nothing is
            # deleted, every message comes back after its visibility timeout.
            print(
                f"esm poller {self.index}: invocation ran past the function timeout "
                f"({self.config.timeout_seconds}s): failing the batch as Lambda would",
                flush=True,
            )
            self._add("over_timeout", 1)
            keep = None
        if keep is None:
            self._add("batch_errors", 1)
            return
        self._add("item_failures", len(keep))
        done = [m for m in messages if m["MessageId"] not in keep]
        self._delete(done)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_MAX_BATCH):
            chunk = messages[start : start + SQS_MAX_BATCH]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            result = self.sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            self._add("deleted", len(result.get("Successful", [])))

    def _add(self, name: str, amount: int) -> None:
        slot = self.index * len(STAT_NAMES) + STAT_NAMES.index(name)
        with self.stats.get_lock():
            self.stats[slot] += amount


def _poller_main(
    config: EsmConfig, index: int, stop: EventType, stats: SynchronizedArray[Any], ready: Any
) -> None:
    """Entry point of one poller process (spawned: a fresh interpreter, like a cold start)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _die_with_parent()
    if config.log_dir is not None:
        config.log_dir.mkdir(parents=True, exist_ok=True)
        log = os.open(
            config.log_dir / f"poller-{index}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    from local_stack.emulators import apply_env  # noqa: PLC0415

    apply_env(config.env)
    _Poller(config, index, stop, stats, ready).run()


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class EsmRunner:
    """Start/stop N poller processes; `stats()` sums their counters."""

    config: EsmConfig
    _processes: list[multiprocessing.process.BaseProcess] = field(default_factory=list)
    _stop: Any = None
    _stats: Any = None
    _ready: Any = None

    def start(self) -> EsmRunner:
        if self._processes:
            return self
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._stats = ctx.Array("q", self.config.pollers * len(STAT_NAMES))
        self._ready = ctx.Value("i", 0)
        for index in range(self.config.pollers):
            process = ctx.Process(
                target=_poller_main,
                args=(self.config, index, self._stop, self._stats, self._ready),
                name=f"esm-poller-{index}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        grace = self.config.wait_time_seconds + self.config.timeout_seconds + 5
        deadline = time.monotonic() + grace
        for process in self._processes:
            process.join(timeout=max(0.1, deadline - time.monotonic()))
        for process in self._processes:
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        self._processes.clear()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until every poller has imported its handler (the "cold start" is over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready is not None and self._ready.value >= self.config.pollers:
                return True
            if self._processes and self.alive() < len(self._processes):
                raise RuntimeError("a poller process died while starting; see its log")
            time.sleep(0.1)
        return False

    def alive(self) -> int:
        return sum(1 for p in self._processes if p.is_alive())

    def stats(self) -> EsmStats:
        totals = dict.fromkeys(STAT_NAMES, 0)
        if self._stats is not None:
            values = list(self._stats)
            for index in range(self.config.pollers):
                for offset, name in enumerate(STAT_NAMES):
                    totals[name] += values[index * len(STAT_NAMES) + offset]
        return EsmStats(**totals)

    def __enter__(self) -> EsmRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
