"""Poller configuration: environment variables parsed once per cold start into a typed object.

`PollerSettings.to_env()` is the inverse of `from_env()`; the CDK stack and the local stack both
build the Lambda environment through it, so a setting has one name and one default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from relay.names import METRICS_NAMESPACE, SERVICE_NAME


class SettingsError(ValueError):
    """A required variable is missing or a value does not parse."""


@dataclass(frozen=True)
class PollerSettings:
    foxreload_base_url: str
    foxreload_api_key_secret: str
    ledger_table: str
    orders_queue_url: str
    dlq_url: str
    sink_webhook_url: str
    sink_webhook_secret: str
    poll_policy: str = "relay"  # "relay" or "seed"
    poll_base_seconds: float = 9.0  # RelayPolicy defaults, chosen with the bench
    poll_cap_seconds: float = 60.0
    poll_jitter: float = 0.1
    give_up_after_seconds: float = 900.0
    not_found_grace_seconds: float = 60.0
    auth_failure_delay_seconds: float = 120.0
    lease_seconds: float = 45.0
    http_connect_timeout: float = 3.0
    http_read_timeout: float = 8.0
    webhook_timeout: float = 10.0
    ledger_ttl_days: int = 90
    # The API key's budget, shared by every poller and the sweeper (docs/performance.md).
    foxreload_rate_limit_per_minute: float = 100.0
    # The completion sweep (relay.handlers.sweeper): list pages instead of polling each order.
    sweep_enabled: bool = False
    sweep_budget_share: float = 0.85
    sweep_max_horizon_seconds: float = 300.0
    sweep_min_interval_seconds: float = 2.0
    sweep_max_interval_seconds: float = 12.0
    sweep_cover_margin_seconds: float = 15.0
    sweep_max_defer_seconds: float = 120.0
    sweep_stale_grace_seconds: float = 20.0
    # FoxReload seconds per relay second: 1 against FoxReload; the local stack's simulator can
    # run its clock faster, and the sweeper ages listed orders on FoxReload's clock.
    foxreload_time_scale: float = 1.0
    service_name: str = SERVICE_NAME
    metrics_namespace: str = METRICS_NAMESPACE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PollerSettings:
        settings = cls(**fields_from_env(cls, ENV_NAMES, env, _parse))
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        return fields_to_env(self, ENV_NAMES)

    def validate(self) -> None:
        if self.poll_policy not in ("relay", "seed"):
            raise SettingsError(f"POLL_POLICY must be 'relay' or 'seed', not {self.poll_policy!r}")
        if not 0 < self.poll_base_seconds <= self.poll_cap_seconds:
            raise SettingsError("need 0 < POLL_BASE_SECONDS <= POLL_CAP_SECONDS")
        if not 0 <= self.poll_jitter <= 1:
            raise SettingsError("POLL_JITTER must be within [0, 1]")
        if self.give_up_after_seconds <= 0:
            raise SettingsError("GIVE_UP_AFTER_SECONDS must be positive")
        if not 0 < self.sweep_budget_share < 1:
            raise SettingsError("SWEEP_BUDGET_SHARE must be within (0, 1)")
        if self.foxreload_rate_limit_per_minute < 10 or self.foxreload_time_scale <= 0:
            raise SettingsError("need FOXRELOAD_RATE_LIMIT_PER_MINUTE >= 10, a positive time scale")
        if self.lease_seconds <= self.webhook_timeout:
            raise SettingsError("LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS")


ENV_NAMES: Final[dict[str, str]] = {
    "foxreload_base_url": "FOXRELOAD_BASE_URL",
    "foxreload_api_key_secret": "FOXRELOAD_API_KEY_SECRET",
    "ledger_table": "LEDGER_TABLE",
    "orders_queue_url": "ORDERS_QUEUE_URL",
    "dlq_url": "DLQ_URL",
    "sink_webhook_url": "SINK_WEBHOOK_URL",
    "sink_webhook_secret": "SINK_WEBHOOK_SECRET",
    "poll_policy": "POLL_POLICY",
    "poll_base_seconds": "POLL_BASE_SECONDS",
    "poll_cap_seconds": "POLL_CAP_SECONDS",
    "poll_jitter": "POLL_JITTER",
    "give_up_after_seconds": "GIVE_UP_AFTER_SECONDS",
    "not_found_grace_seconds": "NOT_FOUND_GRACE_SECONDS",
    "auth_failure_delay_seconds": "AUTH_FAILURE_DELAY_SECONDS",
    "lease_seconds": "LEASE_SECONDS",
    "http_connect_timeout": "HTTP_CONNECT_TIMEOUT_SECONDS",
    "http_read_timeout": "HTTP_READ_TIMEOUT_SECONDS",
    "webhook_timeout": "WEBHOOK_TIMEOUT_SECONDS",
    "ledger_ttl_days": "LEDGER_TTL_DAYS",
    "foxreload_rate_limit_per_minute": "FOXRELOAD_RATE_LIMIT_PER_MINUTE",
    "sweep_enabled": "SWEEP_ENABLED",
    "sweep_budget_share": "SWEEP_BUDGET_SHARE",
    "sweep_max_horizon_seconds": "SWEEP_MAX_HORIZON_SECONDS",
    "sweep_min_interval_seconds": "SWEEP_MIN_INTERVAL_SECONDS",
    "sweep_max_interval_seconds": "SWEEP_MAX_INTERVAL_SECONDS",
    "sweep_cover_margin_seconds": "SWEEP_COVER_MARGIN_SECONDS",
    "sweep_max_defer_seconds": "SWEEP_MAX_DEFER_SECONDS",
    "sweep_stale_grace_seconds": "SWEEP_STALE_GRACE_SECONDS",
    "foxreload_time_scale": "FOXRELOAD_TIME_SCALE",
    "service_name": "POWERTOOLS_SERVICE_NAME",
    "metrics_namespace": "POWERTOOLS_METRICS_NAMESPACE",
}


def fields_from_env(
    cls: type[Any],
    names: Mapping[str, str],
    env: Mapping[str, str],
    parse: Callable[[str, str, object], object],
) -> dict[str, Any]:
    """A settings dataclass's field values from `env` (`names`: field -> variable). Unset or
    empty variables keep the field's default; `parse(variable, raw, default)` reads the rest.
    Every required variable that is missing is named in one error."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for field in dataclasses.fields(cls):
        name = names[field.name]
        raw = env.get(name)
        if raw is None or raw == "":
            if field.default is dataclasses.MISSING:
                missing.append(name)
            continue
        values[field.name] = parse(name, raw, field.default)
    if missing:
        raise SettingsError(f"missing environment variables: {', '.join(sorted(missing))}")
    return values


def fields_to_env(settings: Any, names: Mapping[str, str]) -> dict[str, str]:
    """The inverse of `fields_from_env`: every field as its environment variable."""
    return {names[f.name]: str(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    return raw


def max_receive_count(settings: PollerSettings, min_delay_seconds: float = 1.0) -> int:
    """The DLQ redrive `maxReceiveCount`: a crash-loop safety net only.

    It must stay above the most receives an order can see before its time deadline, or SQS would
    dead-letter healthy orders first: every receive waits at least `min_delay_seconds`, so the
    deadline allows at most give_up / min_delay receives; doubled for throttled ESM receives,
    capped at SQS's limit of 1000.
    """
    receives_in_deadline = int(settings.give_up_after_seconds / min_delay_seconds) + 1
    return min(1000, max(10, 2 * receives_in_deadline))
