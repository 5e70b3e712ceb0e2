"""Every relay setting, declared once: name, type, default, bounds and where it is spelled.

A `Spec`'s `name` is the field of `PollerSettings` / `MonitorSettings` that holds it (or, for a
setting only the CDK stack reads, the field of `stacks.config.FoxReloadRelayProps`). From the
name the other spellings are derived mechanically:
- the environment variable is the name in UPPER_SNAKE (`poll_base_seconds` ->
  `POLL_BASE_SECONDS`);
- the cdk.json key is the name in camelCase (`pollBaseSeconds`), and the props field that holds
  the cdk.json value is that key back in snake_case.
An explicit `env=` or `cdk=` is given only where a name already deployed cannot be derived
(`HTTP_READ_TIMEOUT_SECONDS`, `apiKeySecretName`, ...), so existing stacks and cdk.json files
keep working; `env=None` marks a setting no function reads, `cdk=None` one cdk.json does not set.

`PollerSettings`, `MonitorSettings` and the stack's props take their defaults from here, their
parsing and range checks (`check`), and stacks/config.py its cdk.json keys; the local stack
builds the environment through `PollerSettings.to_env()`.

One default per setting: the completion sweep (`sweep_enabled`) defaulted to off in the
functions and on in the stack's props. It is off here: every cdk.json environment sets
`sweepEnabled` explicitly (true), so what deploys is unchanged, and a function started without
the variable keeps polling per order as it did.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from relay.domain.schedule import POLICY_NAMES
from relay.names import METRICS_NAMESPACE, SERVICE_NAME, AlarmThreshold


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()  # a setting without a default: its variable must be set


class SettingsError(ValueError):
    """A required variable is missing or a value does not parse or is out of range."""


_DERIVE: Final = "derive"


@dataclass(frozen=True)
class Spec:
    """One setting: its environment name, type, default and bounds."""

    name: str
    kind: type
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    # Strict bounds: the value must differ from `minimum` / `maximum` too.
    exclusive: bool = False
    choices: tuple[str, ...] | None = None
    env_override: str | None = _DERIVE
    cdk_override: str | None = _DERIVE

    @property
    def env(self) -> str | None:
        """The environment variable, or None when no function reads this setting."""
        return self.name.upper() if self.env_override == _DERIVE else self.env_override

    @property
    def cdk(self) -> str | None:
        """The cdk.json key, or None when cdk.json does not set this."""
        return camel(self.name) if self.cdk_override == _DERIVE else self.cdk_override

    @property
    def props_field(self) -> str | None:
        """The `FoxReloadRelayProps` field that holds the cdk.json value."""
        return snake(self.cdk) if self.cdk else None

    def describe(self) -> str:
        spellings = [s for s in (self.cdk and f"cdk.json {self.cdk}", self.env) if s]
        return " / ".join(spellings)

    def check(self, value: Any) -> None:
        """Raise SettingsError, naming the cdk.json key and the variable, if `value` is out of
        this setting's range."""
        if self.choices is not None and value not in self.choices:
            raise SettingsError(
                f"{self.describe()} must be one of {', '.join(self.choices)}, not {value!r}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        low, high = self.minimum, self.maximum
        if not math.isfinite(value):
            raise SettingsError(f"{self.describe()} must be a finite number, not {value!r}")
        too_low = low is not None and (value <= low if self.exclusive else value < low)
        too_high = high is not None and (value >= high if self.exclusive else value > high)
        if too_low or too_high:
            left = "(" if self.exclusive else "["
            right = ")" if self.exclusive else "]"
            bounds = f"{left}{_g(low)}, {_g(high)}{right}"
            raise SettingsError(f"{self.describe()} must be within {bounds}, not {value!r}")

    def parse(self, raw: str) -> Any:
        """The value of the environment variable's text."""
        name = self.env or self.name
        where = f" (cdk.json {self.cdk})" if self.cdk else ""
        if self.kind is bool:
            return raw.lower() in ("1", "true", "yes")
        if self.kind is int:
            try:
                return int(raw)
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r} is not a whole number{where}") from exc
        if self.kind is float:
            try:
                value = float(raw)
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r} is not a number{where}") from exc
            if not math.isfinite(value):
                raise SettingsError(f"{name}={raw!r} is not finite{where}")
            return value
        return raw


def _g(bound: float | None) -> str:
    if bound is None:
        return "inf"
    return f"{bound:g}"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


SPECS: Final[tuple[Spec, ...]] = (
    # Where the stack goes (cdk.json only).
    Spec("account", str, None, env_override=None),
    Spec("region", str, None, env_override=None),
    # FoxReload, the ledger, the queues and the storefront.
    Spec("foxreload_base_url", str),
    Spec("foxreload_api_key_secret", str, cdk_override="apiKeySecretName"),
    Spec("ledger_table", str, cdk_override=None),
    Spec("orders_queue_url", str, cdk_override=None),
    Spec("dlq_url", str, cdk_override=None),
    # The sweeper's own queue of delayed "sweep again" messages: between sweeps it ends its run
    # instead of sleeping (billed) through the pause. Empty: it loops within one run.
    Spec("sweep_tick_queue_url", str, "", cdk_override=None),
    Spec("sink_webhook_url", str, cdk_override="webhookUrl"),
    Spec("sink_webhook_secret", str, cdk_override="webhookSecretName"),
    # The poll schedule (RelayPolicy defaults, chosen with the bench).
    Spec("poll_policy", str, "relay", choices=POLICY_NAMES),
    Spec("poll_base_seconds", float, 9.0, minimum=0, exclusive=True),
    Spec("poll_cap_seconds", float, 60.0, minimum=0, exclusive=True),
    Spec("poll_jitter", float, 0.1, minimum=0, maximum=1),
    Spec("give_up_after_seconds", float, 900.0, minimum=0, exclusive=True),
    # Once an order is terminal: how long the storefront's webhook is retried (from the first
    # terminal sight) before the order is dead-lettered as webhook_unavailable.
    Spec("delivery_window_seconds", float, 86400.0, minimum=0, exclusive=True),
    Spec("not_found_grace_seconds", float, 60.0, minimum=0),
    Spec("auth_failure_delay_seconds", float, 120.0, minimum=0, cdk_override=None),
    Spec("lease_seconds", float, 45.0, minimum=0, exclusive=True, cdk_override=None),
    Spec(
        "http_connect_timeout",
        float,
        3.0,
        minimum=0,
        exclusive=True,
        env_override="HTTP_CONNECT_TIMEOUT_SECONDS",
        cdk_override=None,
    ),
    Spec(
        "http_read_timeout",
        float,
        8.0,
        minimum=0,
        exclusive=True,
        env_override="HTTP_READ_TIMEOUT_SECONDS",
        cdk_override=None,
    ),
    Spec(
        "webhook_timeout",
        float,
        10.0,
        minimum=0,
        exclusive=True,
        env_override="WEBHOOK_TIMEOUT_SECONDS",
        cdk_override=None,
    ),
    # Ledger items expire this many days after their last message; the balance monitor can
    # look no further back.
    Spec("ledger_ttl_days", int, 90, minimum=1, cdk_override=None),
    # The API key's budget, shared by every poller and the sweeper (1000 on enterprise keys).
    Spec(
        "foxreload_rate_limit_per_minute",
        float,
        100.0,
        minimum=10,
        cdk_override="rateLimitPerMinute",
    ),
    # The completion sweep (relay.handlers.sweeper): list pages instead of polling each order.
    Spec("sweep_enabled", bool, False),
    Spec(
        "sweep_budget_share", float, 0.85, minimum=0, maximum=1, exclusive=True, cdk_override=None
    ),
    Spec("sweep_max_horizon_seconds", float, 300.0, minimum=0, cdk_override=None),
    Spec("sweep_min_interval_seconds", float, 2.0, minimum=0, cdk_override=None),
    Spec("sweep_max_interval_seconds", float, 24.0, minimum=0, cdk_override=None),
    Spec("sweep_cover_margin_seconds", float, 15.0, minimum=0, cdk_override=None),
    Spec("sweep_max_defer_seconds", float, 120.0, minimum=0, cdk_override=None),
    Spec("sweep_stale_grace_seconds", float, 20.0, minimum=0, cdk_override=None),
    # "auto": the sweeper sweeps only while that is cheaper than polling each order and per-order
    # polling would miss the lag target (relay.domain.sweep_economics); "always": whenever
    # anything is in flight.
    Spec("sweep_strategy", str, "auto", choices=("auto", "always")),
    # The p99 detection lag per-order polling must forecast before it may replace the sweep.
    Spec("sweep_lag_target_seconds", float, 30.0, minimum=0, exclusive=True),
    # FoxReload and the storefront are reached over https only (the API key, the codes and the
    # signed webhook travel on them); the local stack's loopback simulator and receiver opt out.
    Spec("allow_insecure_http", bool, False, cdk_override=None),
    Spec(
        "service_name",
        str,
        SERVICE_NAME,
        env_override="POWERTOOLS_SERVICE_NAME",
        cdk_override=None,
    ),
    Spec(
        "metrics_namespace",
        str,
        METRICS_NAMESPACE,
        env_override="POWERTOOLS_METRICS_NAMESPACE",
        cdk_override=None,
    ),
    # The balance and stuck-order monitors.
    Spec("balance_endpoint", str, ""),  # empty: estimate; a path or a full URL
    Spec(
        "stuck_window_seconds",
        float,
        float(AlarmThreshold.STUCK_WINDOW_SECONDS),
        minimum=0,
        exclusive=True,
        cdk_override=None,
    ),
    # The alarms' thresholds; the monitors read the stuck ratio as a percentage.
    Spec("stuck_ratio_threshold", float, 0.01, minimum=0, maximum=1, env_override=None),
    Spec(
        "stuck_ratio_percent",
        float,
        float(AlarmThreshold.STUCK_RATIO_PERCENT),
        minimum=0,
        cdk_override=None,
    ),
    Spec(
        "low_balance_spend_multiple",
        float,
        float(AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE),
        minimum=0,
    ),
    # An hour of the spend index is summed once and kept when it ended this long ago.
    Spec("spend_settle_seconds", float, 900.0, cdk_override=None),
    Spec(
        "http_timeout",
        float,
        8.0,
        minimum=0,
        exclusive=True,
        env_override="BALANCE_HTTP_TIMEOUT_SECONDS",
        cdk_override=None,
    ),
    # The stack alone (cdk.json only): functions, alarms, logs, subscriptions, retention.
    Spec("poller_timeout_seconds", int, 30, minimum=1, maximum=900, env_override=None),
    Spec("poller_memory_mb", int, 256, minimum=128, maximum=10240, env_override=None),
    Spec("batch_size", int, 10, minimum=1, maximum=10000, env_override=None),
    Spec("batching_window_seconds", int, 1, minimum=0, maximum=300, env_override=None),
    Spec("max_concurrency", int, 5, minimum=2, maximum=1000, env_override=None),
    Spec("log_retention_days", int, 14, minimum=1, env_override=None),
    Spec("encrypt_logs", bool, True, env_override=None),
    Spec("api_error_rate_threshold", float, 0.2, minimum=0, maximum=1, env_override=None),
    Spec("balance_check_minutes", int, 5, minimum=1, env_override=None),
    Spec("api_error_min_attempts", int, 20, minimum=1, env_override=None),
    Spec("pager_emails", tuple, (), env_override=None),
    Spec("ticket_emails", tuple, (), env_override=None),
    Spec("retain_data", bool, False, env_override=None),
)

BY_NAME: Final[Mapping[str, Spec]] = {spec.name: spec for spec in SPECS}
BY_CDK_KEY: Final[Mapping[str, Spec]] = {spec.cdk: spec for spec in SPECS if spec.cdk}


def default(name: str) -> Any:
    """The one default of setting `name` (for a dataclass field: `x: float = default("x")`)."""
    value = BY_NAME[name].default
    if value is REQUIRED:
        raise KeyError(f"setting {name!r} is required: it has no default")
    return value


def env_names(cls: type[Any]) -> dict[str, str]:
    """field -> environment variable, for every field of a settings dataclass."""
    names = {}
    for field in dataclasses.fields(cls):
        env = BY_NAME[field.name].env
        assert env is not None, field.name
        names[field.name] = env
    return names


def check_fields(settings: Any) -> None:
    """Every field of a settings dataclass within its spec's range."""
    for field in dataclasses.fields(settings):
        BY_NAME[field.name].check(getattr(settings, field.name))
