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

import json
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
from local_stack.provision import Resources, poller_env, provision
from local_stack.storefront_receiver import StorefrontReceiver
from relay.settings import ENV_NAMES
from simulator import FoxReloadSimulator, SimulatorConfig, TimingModel, profile
from stacks.config import EnvironmentConfig, environment_config

DEFAULT_STATE_FILE = Path(tempfile.gettempdir()) / "foxreload-local-stack" / "state.json"
RELAY_API_KEY = "relay-local-key"
STOREFRONT_API_KEY = "storefront-local-key"
# The storefront's own key only creates and pays the orders; it is not what is being measured.
STOREFRONT_RATE_LIMIT = 100_000
# The endpoints the relay calls: fault profiles are applied to these only, so that faults hit
# the relay, never the storefront's order creation.
RELAY_ENDPOINTS = ("get_order",)


@dataclass(frozen=True)
class LocalStackOptions:
    env_name: str | None = None  # cdk.json environment (default: relay:defaultEnvironment)
    time_scale: float = 10.0  # simulated FoxReload seconds per real second
    rate_limit_per_minute: int = 100  # the relay key's limit, per *simulated* minute
    timing: TimingModel | None = None  # None = the simulator's default model
    seed: int | None = None
    allow_moto_dynamodb: bool = False  # demo only: fall back when Java/Node are missing
    log_dir: Path | None = None
    poller_overrides: dict[str, str] = field(default_factory=dict)  # extra poller env vars
    receiver_log: bool = False


def scaled_overrides(config: EnvironmentConfig, time_scale: float) -> dict[str, str]:
    """Durations that are about FoxReload's timeline, divided by the simulator's time scale.

    The deadline, the 404 grace and the poll cap describe how long FoxReload may take, so they
    shrink with its clock; the poll base stays (SQS visibility is whole seconds, at least 1).
    """
    if time_scale == 1:
        return {}
    base = config.poll_base_seconds
    return {
        ENV_NAMES["give_up_after_seconds"]: _num(config.give_up_after_seconds / time_scale),
        ENV_NAMES["not_found_grace_seconds"]: _num(
            max(2 * base, config.not_found_grace_seconds / time_scale)
        ),
        ENV_NAMES["poll_cap_seconds"]: _num(max(base, config.poll_cap_seconds / time_scale)),
    }


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
        self.webhook_secret = secrets.token_hex(32)
        self.simulator: FoxReloadSimulator | None = None
        self.receiver: StorefrontReceiver | None = None
        self.resources: Resources | None = None
        self._exit = ExitStack()
        self._runners: list[EsmRunner] = []
        self._clients: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            self._exit.callback(self._stop_runners)
            self.emulators.start()
            self._exit.callback(self.emulators.stop)
            sim_config = SimulatorConfig(
                api_keys=(RELAY_API_KEY, STOREFRONT_API_KEY),
                rate_limit_per_minute=self.options.rate_limit_per_minute,
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
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
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
                **scaled_overrides(self.config, self.options.time_scale),
                **self.options.poller_overrides,
                **(overrides or {}),
            },
        )
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon here
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

    def _stop_runners(self) -> None:
        for runner in self._runners:
            runner.stop()
        self._runners.clear()

    def set_fault_profile(self, name: str) -> None:
        """Inject the simulator's fault profile `name` into the relay's FoxReload calls."""
        assert self.simulator is not None
        self.simulator.set_faults(name, endpoints=list(RELAY_ENDPOINTS))

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
