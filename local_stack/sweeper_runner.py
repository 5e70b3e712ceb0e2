"""Plays EventBridge + Lambda (and the tick queue's event source) around the real sweeper
handler, on the local stack.

In AWS the sweeper (`relay.handlers.sweeper.handler`) is invoked every minute by an EventBridge
rule and by its own delayed ticks on the tick queue (one message a batch): a tick's run sweeps
once and sends the next tick. Here one process (like one warm execution environment: the
handler module builds its runtime and its `Sweeper` once, and keeps what it learned between
invocations) long-polls the tick queue for a second at a time: a tick is handed to the handler
as an SQS event and deleted once the run returns (as the event source does); a second without
a tick brings a scheduled-event run, which starts a chain only if none holds the lease (so the
schedule is played faster than every minute: a stopped chain is restarted at once). Each
context's remaining time starts at `timeout_seconds`. Without a tick queue in the environment
the scheduled runs follow each other back to back, each sweeping until its time runs out.

Stopping sets an event and interrupts the invocation in progress with SIGINT: `asyncio.run`
cancels the sweep, whose `finally` releases the single-sweeper lease, so a sweeper started
again later (or the next test's) does not wait for the lease to expire. The process is in its
own process group, so a Ctrl-C in the terminal reaches only the parent, which stops it this way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from local_stack.esm_runner import LambdaContext, _die_with_parent, lambda_record
from relay.settings import ENV_NAMES

DEFAULT_SWEEPER_HANDLER = "relay.handlers.sweeper:handler"
# An invocation that returns sooner than this did not sweep (another sweeper holds the lease,
# or the sweep is disabled): wait this long before the next one instead of spinning.
IDLE_PAUSE_SECONDS = 1.0
STOP_GRACE_SECONDS = 15.0

STAT_NAMES = ("invocations", "sweeps", "pages", "delivered", "errors", "ticks")
TICK_WAIT_SECONDS = 1


@dataclass(frozen=True)
class SweeperConfig:
    env: dict[str, str]  # the function's environment: settings + AWS endpoints/credentials
    region: str
    account_id: str
    handler: str = DEFAULT_SWEEPER_HANDLER
    function_name: str = "foxreload-relay-sweeper"
    timeout_seconds: float = 60.0  # the remaining time each invocation starts with
    memory_mb: int = 256
    log_dir: Path | None = None  # stdout/stderr go to <log_dir>/sweeper.log

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")


@dataclass
class SweeperStats:
    invocations: int = 0
    sweeps: int = 0  # sweeps the handler reported (one per list pass)
    pages: int = 0  # list pages read
    delivered: int = 0  # orders the sweeper delivered (the rest came from per-order polls)
    errors: int = 0  # invocations that raised
    ticks: int = 0  # invocations by a tick (the rest were scheduled)


def scheduled_event(config: SweeperConfig) -> dict[str, Any]:
    """The payload an EventBridge schedule rule sends (the handler does not read it)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": config.account_id,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": config.region,
        "resources": [
            f"arn:aws:events:{config.region}:{config.account_id}:rule/{config.function_name}"
        ],
        "detail": {},
    }


def _sweeper_main(
    config: SweeperConfig, stop: EventType, stats: SynchronizedArray[Any], ready: Any
) -> None:
    """Entry point of the sweeper process (spawned: a fresh interpreter, like a cold start)."""
    with contextlib.suppress(OSError):
        os.setpgrp()  # a terminal Ctrl-C goes to the parent; it stops us with SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignores it
    _die_with_parent()
    if config.log_dir is not None:
        config.log_dir.mkdir(parents=True, exist_ok=True)
        log = os.open(config.log_dir / "sweeper.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    try:
        from local_stack.emulators import apply_env  # noqa: PLC0415

        apply_env(config.env)
        module_name, _, attr = config.handler.partition(":")
        handler: Callable[[dict[str, Any], Any], Any] = getattr(
            importlib.import_module(module_name), attr or "handler"
        )
        ready.value = 1
        _invoke_until_stopped(config, handler, stop, stats)
    except KeyboardInterrupt:
        pass  # stopped: an invocation in progress released its lease on the way out


def _invoke_until_stopped(
    config: SweeperConfig,
    handler: Callable[[dict[str, Any], Any], Any],
    stop: EventType,
    stats: SynchronizedArray[Any],
) -> None:
    def add(name: str, amount: int) -> None:
        with stats.get_lock():
            stats[STAT_NAMES.index(name)] += amount

    ticks = _TickSource.from_env(config)
    while not stop.is_set():
        started = time.monotonic()
        tick = ticks.next() if ticks is not None else None
        if stop.is_set():
            break
        event = scheduled_event(config) if ticks is None or tick is None else ticks.event(tick)
        result = _invoke(config, handler, event)
        if result is None:
            add("errors", 1)  # a tick stays on the queue: it comes back later, as on Lambda
        elif ticks is not None and tick is not None:
            ticks.delete(tick)
        add("invocations", 1)
        add("ticks", tick is not None)
        if isinstance(result, dict):
            for name in ("sweeps", "pages", "delivered"):
                add(name, int(result.get(name, 0) or 0))
        if ticks is None and time.monotonic() - started < IDLE_PAUSE_SECONDS:
            stop.wait(IDLE_PAUSE_SECONDS)


def _invoke(
    config: SweeperConfig,
    handler: Callable[[dict[str, Any], Any], Any],
    event: dict[str, Any],
) -> Any:
    """One invocation; None if it raised (as on Lambda: this run failed, the next one comes)."""
    try:
        result = handler(event, LambdaContext(config, config.account_id))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        print(f"sweeper: handler raised {exc!r}", flush=True)
        return None
    return {} if result is None else result


class _TickSource:
    """The tick queue's event source: one message at a time, long-polled."""

    def __init__(self, config: SweeperConfig, url: str) -> None:
        import boto3  # noqa: PLC0415 - after apply_env: the emulators' endpoints

        self._sqs = boto3.client("sqs", region_name=config.region)
        self._url = url
        name = url.rsplit("/", 1)[-1]
        self._arn = f"arn:aws:sqs:{config.region}:{config.account_id}:{name}"
        self._region = config.region

    @classmethod
    def from_env(cls, config: SweeperConfig) -> _TickSource | None:
        url = config.env.get(ENV_NAMES["sweep_tick_queue_url"], "")
        return cls(config, url) if url else None

    def next(self) -> dict[str, Any] | None:
        reply = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=TICK_WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        return dict(messages[0]) if messages else None

    def event(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"Records": [lambda_record(message, self._arn, self._region)]}

    def delete(self, message: dict[str, Any]) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])


@dataclass
class SweeperRunner:
    """Start/stop the sweeper process; `stats()` reads its counters."""

    config: SweeperConfig
    _process: multiprocessing.process.BaseProcess | None = None
    _stop: Any = None
    _stats: Any = None
    _ready: Any = None

    def start(self) -> SweeperRunner:
        if self._process is not None:
            return self
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._stats = ctx.Array("q", len(STAT_NAMES))
        self._ready = ctx.Value("i", 0)
        self._process = ctx.Process(
            target=_sweeper_main,
            args=(self.config, self._stop, self._stats, self._ready),
            name="sweeper",
            daemon=True,
        )
        self._process.start()
        return self

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._stop.set()
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
        process.join(timeout=STOP_GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        self._process = None

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until the process has imported the handler module."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready is not None and self._ready.value:
                return True
            if self._process is not None and not self._process.is_alive():
                raise RuntimeError("the sweeper process died while starting; see its log")
            time.sleep(0.1)
        return False

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def stats(self) -> SweeperStats:
        values = list(self._stats) if self._stats is not None else [0] * len(STAT_NAMES)
        return SweeperStats(**dict(zip(STAT_NAMES, values, strict=True)))

    def __enter__(self) -> SweeperRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
