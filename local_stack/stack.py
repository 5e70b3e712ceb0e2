"""The whole relay on one machine: emulators, FoxReload simulator, storefront receiver, resources.

    with LocalStack(LocalStackOptions(time_scale=10)) as stack:
        with stack.runner(pollers=3):           # the real poller handler, as Lambda runs it
            stack.send_order(order_id)
            ...

Everything binds 127.0.0.1 on free ports. Resources and the poller's environment come from
`stacks.config` (the environment in cdk.json, default `dev`) exactly as the CDK stack derives
them; only the URLs (FoxReload, storefront webhook) and the durations that model FoxReload's
clock (see `scaled_overrides`) are local.
"""

from __future__ import annotations

import base64
import json
import math
import os
import secrets
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3

from local_stack.emulators import Emulators, patched_environ
from local_stack.esm_runner import DEFAULT_HANDLER, EsmConfig, EsmRunner
from local_stack.provision import Resources, placeholder_settings, poller_env, provision
from local_stack.storefront_receiver import StorefrontReceiver
from local_stack.sweeper_runner import SweeperConfig, SweeperRunner
from relay.domain.rate_budget import WINDOW_SECONDS
from relay.domain.schedule import MIN_VISIBILITY_SECONDS
from relay.service.poll_gate import budget_split
from relay.settings import ENV_NAMES
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel, profile
from stacks.config import EnvironmentConfig, environment_config

FUNCTIONS_ROOT = Path(__file__).resolve().parent.parent / "functions"  # the Lambda asset root
DEFAULT_STATE_FILE = Path(tempfile.gettempdir()) / "foxreload-local-stack" / "state.json"
RELAY_API_KEY = "relay-local-key"
STOREFRONT_API_KEY = "storefront-local-key"
# The storefront's own key only creates and pays the orders; it is not what is being measured.
STOREFRONT_RATE_LIMIT = 100_000
# The endpoints the relay calls: fault profiles are applied to these only, so that faults hit
# the relay, never the storefront's order creation.
RELAY_ENDPOINTS = ("get_order", "list_orders")
# Floors for scaled durations: what real time imposes whatever FoxReload's clock does.
MIN_POLL_BASE_SECONDS = 1.0  # SQS visibility is whole seconds, at least 1
MIN_SWEEP_INTERVAL_SECONDS = 0.2  # a sweep is HTTP + DynamoDB round trips on a shared machine
MIN_COVER_MARGIN_SECONDS = 1.0  # the sweep's own duration, create -> SendMessage
MIN_STALE_GRACE_SECONDS = 4.0  # pollers cache the coverage item 2 s, a slow sweep on 2 cores
JITTER_ALLOWANCE_SECONDS = 1.0  # token taken -> request at the simulator (relay_budget_...)
MIN_RELAY_BUDGET = 10  # PollerSettings.validate: FOXRELOAD_RATE_LIMIT_PER_MINUTE >= 10


@dataclass(frozen=True)
class LocalStackOptions:
    env_name: str | None = None  # cdk.json environment (default: relay:defaultEnvironment)
    time_scale: float = 10.0  # simulated FoxReload seconds per real second
    # The relay key's limit per *simulated* minute (None: cdk.json rateLimitPerMinute); the
    # relay's budget is derived from it, so the two agree (see `relay_budget_per_minute`).
    rate_limit_per_minute: int | None = None
    sweep: bool | None = None  # run the completion sweeper (None: cdk.json sweepEnabled)
    # Each sweeper invocation's Lambda time: the stack's SWEEPER_TIMEOUT (stacks/relay_stack.py,
    # not imported: the CDK app costs seconds to import; test_provisioning_parity compares).
    sweeper_timeout_seconds: float = 75.0
    timing: TimingModel | None = None  # None = the simulator's default model
    seed: int | None = None
    allow_moto_dynamodb: bool = False  # demo only: fall back when Java/Node are missing
    log_dir: Path | None = None
    poller_overrides: dict[str, str] = field(default_factory=dict)  # extra poller env vars
    receiver_log: bool = False


def scaled_overrides(
    config: EnvironmentConfig, time_scale: float, rate_limit_per_minute: float | None = None
) -> dict[str, str]:
    """The poller's and sweeper's settings that describe FoxReload's timeline, on a scaled clock.

    The simulator runs FoxReload's clock `time_scale` times faster; the relay runs in real
    seconds. The simulator reports its instants (`createdAt`, the `Date` header) on the relay's
    clock, so the sweeper's ages need no conversion. What remains (docs/local-stack.md, "Time
    scale"):
    - FOXRELOAD_RATE_LIMIT_PER_MINUTE is what the relay may spend per *real* minute without a
      429 from a simulator that allows `limit` per *simulated* minute (`relay_budget_per_minute`:
      less than limit x time_scale, as the simulator's window is 60/time_scale real seconds);
    - durations of FoxReload's timeline are divided by the scale: the deadline, the 404 grace,
      the poll base and cap, and the sweep's horizon, cover margin, longest deferral, staleness
      grace and intervals, each with a floor for what real time imposes (SQS visibility is whole
      seconds >= 1; a sweep takes real milliseconds of HTTP and DynamoDB round trips).
    """
    limit = config.rate_limit_per_minute if rate_limit_per_minute is None else rate_limit_per_minute
    s = time_scale
    overrides = {
        ENV_NAMES["foxreload_rate_limit_per_minute"]: _num(
            relay_budget_per_minute(config, limit, s)
        ),
    }
    if s == 1:
        return overrides
    base = max(MIN_POLL_BASE_SECONDS, config.poll_base_seconds / s)
    defaults = placeholder_settings(config)
    margin = max(MIN_COVER_MARGIN_SECONDS, defaults.sweep_cover_margin_seconds / s)
    min_interval = max(MIN_SWEEP_INTERVAL_SECONDS, defaults.sweep_min_interval_seconds / s)
    overrides |= {
        ENV_NAMES["give_up_after_seconds"]: _num(config.give_up_after_seconds / s),
        ENV_NAMES["not_found_grace_seconds"]: _num(
            max(2 * base, config.not_found_grace_seconds / s)
        ),
        ENV_NAMES["poll_base_seconds"]: _num(base),
        ENV_NAMES["poll_cap_seconds"]: _num(max(base, config.poll_cap_seconds / s)),
        ENV_NAMES["sweep_max_horizon_seconds"]: _num(
            max(3 * margin, defaults.sweep_max_horizon_seconds / s)
        ),
        ENV_NAMES["sweep_cover_margin_seconds"]: _num(margin),
        ENV_NAMES["sweep_max_defer_seconds"]: _num(
            max(MIN_VISIBILITY_SECONDS, defaults.sweep_max_defer_seconds / s)
        ),
        ENV_NAMES["sweep_stale_grace_seconds"]: _num(
            max(MIN_STALE_GRACE_SECONDS, defaults.sweep_stale_grace_seconds / s)
        ),
        ENV_NAMES["sweep_min_interval_seconds"]: _num(min_interval),
        ENV_NAMES["sweep_max_interval_seconds"]: _num(
            max(min_interval, defaults.sweep_max_interval_seconds / s)
        ),
        # a lag on FoxReload's timeline too (the strategy's forecasts and the sweep's stretch)
        ENV_NAMES["sweep_lag_target_seconds"]: _num(
            max(min_interval, defaults.sweep_lag_target_seconds / s)
        ),
    }
    return overrides


def relay_budget_per_minute(
    config: EnvironmentConfig, limit_per_sim_minute: float, time_scale: float
) -> float:
    """FOXRELOAD_RATE_LIMIT_PER_MINUTE (per real minute) that a scaled simulator never refuses.

    The simulator allows `limit` requests in any 60 *simulated* seconds, i.e. in any
    W = 60 / time_scale real seconds. The relay's token buckets (relay.service.poll_gate) are
    sized for a 60 s window: burst + 60 x rate <= budget. Over the shorter window W they let
    through burst + W x rate, so budget = limit x time_scale would overshoot by the burst
    (x10, 100/min: 10 + 6 x 16.5 = 109 > 100).

    Requests also reach the simulator a little after their tokens are taken, unevenly (the
    poller's event loop, DynamoDB and HTTP round trips on a busy machine), so a bucket that fills
    the window exactly meets a few 429s at saturation (the measurements are in
    docs/local-stack.md, "Time scale"). Against FoxReload's real 60 s window that delay is
    `time_scale` times smaller, so when scaled it is kept out of the window:
    JITTER_ALLOWANCE_SECONDS is added to W.

    Reporting instants on the relay's clock does not remove this search: the simulator still
    counts its limit over 60 *simulated* seconds (its timelines, expiry and window all run on
    the scaled clock, so an x10 run is a faithful fast-forward of FoxReload), and the relay's
    buckets split the budget between the sweeper and the pollers with bursts that do not scale.

    The result is the largest whole budget whose buckets, with the sweeper running or not, let
    through at most `limit` in every W (+ allowance): burst + 60 x (limit - burst) / (W + J),
    i.e. 781 at x10 with the default burst of 10 (910 without the allowance), and exactly
    `limit` at x1, where the local stack runs the relay exactly as configured.
    """
    window = WINDOW_SECONDS / time_scale + (JITTER_ALLOWANCE_SECONDS if time_scale > 1 else 0.0)
    settings = placeholder_settings(config)

    def worst(budget: float) -> float:
        split = budget_split(replace(settings, foxreload_rate_limit_per_minute=budget))
        both = (split.sweeper, split.per_order)
        swept = sum(b.burst for b in both) + sum(b.rate for b in both) * window
        return max(swept, split.whole.burst + split.whole.rate * window)

    low = MIN_RELAY_BUDGET
    high = max(low, math.floor(limit_per_sim_minute * time_scale))
    if worst(low) > limit_per_sim_minute:
        return float(low)  # the relay's floor; the simulator will answer some 429s
    while low < high:  # the largest whole budget with worst(budget) <= limit
        mid = (low + high + 1) // 2
        if worst(mid) <= limit_per_sim_minute + 1e-9:
            low = mid
        else:
            high = mid - 1
    return float(low)


def _num(value: float) -> str:
    return f"{value:g}"


class LocalStack:
    def __init__(self, options: LocalStackOptions | None = None) -> None:
        self.options = options or LocalStackOptions()
        self.config = environment_config(self.options.env_name)
        self.log_dir = self.options.log_dir or Path(
            tempfile.mkdtemp(prefix="foxreload-local-stack-")
        )
        self.emulators = Emulators(
            region=self.config.region,
            log_dir=self.log_dir,
            allow_moto_dynamodb=self.options.allow_moto_dynamodb,
        )
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.simulator: FoxReloadSimulator | None = None
        self.receiver: StorefrontReceiver | None = None
        self.resources: Resources | None = None
        self._exit = ExitStack()
        self._runners: list[EsmRunner] = []
        self._sweeper: SweeperRunner | None = None
        self._clients: dict[str, Any] = {}

    @property
    def rate_limit_per_minute(self) -> int:
        """The relay key's limit at the simulator, per simulated minute."""
        limit = self.options.rate_limit_per_minute
        return int(self.config.rate_limit_per_minute if limit is None else limit)

    @property
    def sweep_enabled(self) -> bool:
        sweep = self.options.sweep
        return self.config.sweep_enabled if sweep is None else sweep

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            self._exit.callback(self._stop_runners)
            self._exit.callback(self.stop_sweeper)
            self.emulators.start()
            self._exit.callback(self.emulators.stop)
            sim_config = SimulatorConfig(
                api_keys=(RELAY_API_KEY, STOREFRONT_API_KEY),
                rate_limit_per_minute=self.rate_limit_per_minute,
                key_rate_limits={STOREFRONT_API_KEY: STOREFRONT_RATE_LIMIT},
                time_scale=self.options.time_scale,
                timing=self.options.timing or TimingModel(),
                faults=profile("none"),
                seed=self.options.seed,
            )
            self.simulator = FoxReloadSimulator(sim_config).start()
            self._exit.callback(self.simulator.stop)
            self.receiver = StorefrontReceiver(
                self.webhook_secret, log=self.options.receiver_log
            ).start()
            self._exit.callback(self.receiver.stop)
            with patched_environ(self.aws_env()):
                self.resources = provision(
                    self.config, api_key=RELAY_API_KEY, webhook_secret=self.webhook_secret
                )
            if self.sweep_enabled:
                self.start_sweeper()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # The functions first, while the emulators and the simulator still answer: the sweeper
        # releases its lease and in-flight invocations finish against live endpoints.
        try:
            self.stop_sweeper()
            self._stop_runners()
        finally:
            self._exit.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the pieces need --------------------------------------------------------------
    @property
    def notices(self) -> list[str]:
        return self.emulators.notices

    def aws_env(self) -> dict[str, str]:
        return self.emulators.aws_env()

    def client(self, service: str) -> Any:
        """A boto3 client for the emulators, made without touching os.environ."""
        if service not in self._clients:
            key = {"secretsmanager": "SECRETS_MANAGER"}.get(service, service.upper())
            self._clients[service] = boto3.client(
                service,
                region_name=self.config.region,
                endpoint_url=self.emulators.endpoints()[key],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - emulator dummy
            )
        return self._clients[service]

    def function_env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The poller's environment: settings as the stack writes them + AWS endpoints."""
        assert self.resources is not None and self.simulator is not None
        assert self.receiver is not None
        env = poller_env(
            self.config,
            self.resources,
            foxreload_base_url=self.simulator.base_url,
            sink_webhook_url=self.receiver.url,
            overrides={
                **scaled_overrides(
                    self.config, self.options.time_scale, self.rate_limit_per_minute
                ),
                ENV_NAMES["sweep_enabled"]: str(self.sweep_enabled).lower(),
                **self.options.poller_overrides,
                **(overrides or {}),
            },
        )
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon here
        # Lambda sets it to the asset root; the poller (relay.handlers.sqs_batch) then keeps one
        # event loop across warm invocations (as on Lambda): the pollers reuse HTTP connections.
        env["LAMBDA_TASK_ROOT"] = str(FUNCTIONS_ROOT)
        env.update(self.aws_env())
        return env

    def esm_config(
        self, *, pollers: int | None = None, handler: str = DEFAULT_HANDLER, **overrides: Any
    ) -> EsmConfig:
        """The event source mapping the stack defines (batch size, window, timeout, memory)."""
        assert self.resources is not None
        cfg = self.config
        base = EsmConfig(
            queue_url=self.resources.orders_queue_url,
            queue_arn=self.resources.orders_queue_arn,
            region=cfg.region,
            env=self.function_env(overrides.pop("env_overrides", None)),
            handler=handler,
            function_name=f"{self.resources.orders_queue_url.rsplit('/', 1)[-1]}-poller",
            batch_size=cfg.batch_size,
            batching_window_seconds=cfg.batching_window_seconds,
            timeout_seconds=cfg.poller_timeout_seconds,
            memory_mb=cfg.poller_memory_mb,
            pollers=pollers or cfg.max_concurrency,
            log_dir=self.log_dir / "pollers",
        )
        return replace(base, **overrides)

    def runner(self, *, pollers: int | None = None, **overrides: Any) -> EsmRunner:
        """Start pollers; use as a context manager, or they stop with the stack."""
        runner = EsmRunner(self.esm_config(pollers=pollers, **overrides)).start()
        self._runners.append(runner)
        return runner

    # -- the completion sweeper, as EventBridge + Lambda run it -----------------------------
    def sweeper_config(self, **overrides: Any) -> SweeperConfig:
        """The sweeper function: the poller's environment (the stack gives both the same
        settings), a Lambda-like timeout per invocation, logs beside the pollers'."""
        assert self.resources is not None
        # the stack gives only the sweeper its tick queue
        ticks = {ENV_NAMES["sweep_tick_queue_url"]: self.resources.sweep_ticks_url}
        env = self.function_env({**ticks, **(overrides.pop("env_overrides", None) or {})})
        base = SweeperConfig(
            env=env,
            region=self.config.region,
            account_id=self.resources.orders_queue_arn.split(":")[4],
            function_name=f"{self.resources.orders_queue_url.rsplit('/', 1)[-1]}-sweeper",
            timeout_seconds=self.options.sweeper_timeout_seconds,
            memory_mb=self.config.poller_memory_mb,
            log_dir=self.log_dir / "sweeper",
        )
        return replace(base, **overrides)

    @property
    def sweeper(self) -> SweeperRunner | None:
        """The running sweeper process, if any."""
        return self._sweeper

    def start_sweeper(self, **overrides: Any) -> SweeperRunner:
        """Start invoking the sweeper handler back to back (started by `start()` when the
        sweep is enabled; call it to restart after `stop_sweeper()`)."""
        if self._sweeper is None:
            self._sweeper = SweeperRunner(self.sweeper_config(**overrides)).start()
        return self._sweeper

    def stop_sweeper(self) -> None:
        """Stop the sweeper: the invocation in progress ends early and releases its lease."""
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None

    def _stop_runners(self) -> None:
        for runner in self._runners:
            runner.stop()
        self._runners.clear()

    def set_fault_profile(self, name: str, **overrides: Any) -> None:
        """Inject the simulator's fault profile `name` (with `overrides` of its fields, e.g.
        ``error_rate=0.3``) into the relay's FoxReload calls."""
        assert self.simulator is not None
        self.simulator.set_faults(name, endpoints=list(RELAY_ENDPOINTS), **overrides)

    # -- acting as a storefront ------------------------------------------------------------
    def send_order(self, order_id: str, storefront_ref: str | None = None) -> str:
        """SendMessage an order message v1, as a storefront does; returns the message id."""
        assert self.resources is not None
        body: dict[str, Any] = {"v": 1, "order_id": order_id}
        if storefront_ref is not None:
            body["storefront_ref"] = storefront_ref
        return self.send_raw(json.dumps(body, separators=(",", ":")))

    def send_raw(self, body: str) -> str:
        assert self.resources is not None
        sent = self.client("sqs").send_message(
            QueueUrl=self.resources.orders_queue_url, MessageBody=body
        )
        return str(sent["MessageId"])

    def queue_depths(self) -> dict[str, int]:
        """Approximate counts: orders visible / in flight (incl. rescheduled), DLQ visible."""
        assert self.resources is not None
        sqs = self.client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        orders = sqs.get_queue_attributes(
            QueueUrl=self.resources.orders_queue_url, AttributeNames=names
        )["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=self.resources.dlq_url, AttributeNames=names)[
            "Attributes"
        ]
        return {
            "visible": int(orders["ApproximateNumberOfMessages"]),
            "in_flight": int(orders["ApproximateNumberOfMessagesNotVisible"]),
            "dlq": int(dlq["ApproximateNumberOfMessages"])
            + int(dlq["ApproximateNumberOfMessagesNotVisible"]),
        }

    # -- the state file the operator CLI reads ---------------------------------------------
    def state(self) -> dict[str, Any]:
        assert self.resources is not None and self.simulator is not None
        assert self.receiver is not None
        return {
            "kind": "local",
            "pid": os.getpid(),
            "started_at": time.time(),
            "region": self.config.region,
            "endpoints": self.emulators.endpoints(),
            "dynamodb_local": self.emulators.uses_dynamodb_local,
            "resources": self.resources.to_json(),
            "foxreload_base_url": self.simulator.base_url,
            "simulator_control_url": f"{self.simulator.base_url}/_sim/",
            "storefront_api_key": STOREFRONT_API_KEY,
            "receiver_url": self.receiver.url,
            "receiver_stats_url": f"{self.receiver.base_url}/_receiver/stats",
            "time_scale": self.options.time_scale,
            "sweep_enabled": self.sweep_enabled,
            "log_dir": str(self.log_dir),
        }

    def write_state(self, path: Path = DEFAULT_STATE_FILE) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2))
        tmp.replace(path)
        self._exit.callback(_remove_if_ours, path, os.getpid())
        return path


def _remove_if_ours(path: Path, pid: int) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass
