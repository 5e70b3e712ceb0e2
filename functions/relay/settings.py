"""Poller configuration: environment variables parsed once per cold start into a typed object.

`PollerSettings.to_env()` is the inverse of `from_env()`; the CDK stack and the local stack both
build the Lambda environment through it, so a setting has one name and one default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from relay.domain.retry_pacing import SQS_MAX_RECEIVE_COUNT, receive_bound
from relay.names import METRICS_NAMESPACE, SERVICE_NAME

# The lease outlives the webhook by this much, so a send ends while the lease is still ours.
LEASE_MARGIN_SECONDS: Final = 5.0
# Ledger items expire this many days after their last message (LEDGER_TTL_DAYS); the balance
# monitor can look no further back (MonitorSettings reads the same variable).
DEFAULT_LEDGER_TTL_DAYS: Final = 90


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
    # Once an order is terminal: how long the storefront's webhook is retried (from the first
    # terminal sight) before the order is dead-lettered as webhook_unavailable.
    delivery_window_seconds: float = 86400.0
    not_found_grace_seconds: float = 60.0
    auth_failure_delay_seconds: float = 120.0
    lease_seconds: float = 45.0
    http_connect_timeout: float = 3.0
    http_read_timeout: float = 8.0
    webhook_timeout: float = 10.0
    ledger_ttl_days: int = DEFAULT_LEDGER_TTL_DAYS
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
    # FoxReload and the storefront are reached over https only (the API key, the codes and the
    # signed webhook travel on them); the local stack's loopback simulator and receiver opt out.
    allow_insecure_http: bool = False
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
        if self.delivery_window_seconds <= 0:
            raise SettingsError("DELIVERY_WINDOW_SECONDS must be positive")
        if not 0 < self.sweep_budget_share < 1:
            raise SettingsError("SWEEP_BUDGET_SHARE must be within (0, 1)")
        if self.foxreload_rate_limit_per_minute < 10:
            raise SettingsError("need FOXRELOAD_RATE_LIMIT_PER_MINUTE >= 10")
        if self.lease_seconds <= self.webhook_timeout:
            raise SettingsError("LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS")
        if not self.allow_insecure_http:
            require_https("FOXRELOAD_BASE_URL", self.foxreload_base_url)
            require_https("SINK_WEBHOOK_URL", self.sink_webhook_url)


def require_https(name: str, url: str) -> None:
    if not url.lower().startswith("https://"):
        raise SettingsError(
            f"{name} must be an https:// URL (ALLOW_INSECURE_HTTP is for the local stack only)"
        )


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
    "delivery_window_seconds": "DELIVERY_WINDOW_SECONDS",
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
    "allow_insecure_http": "ALLOW_INSECURE_HTTP",
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


def max_receive_count(settings: PollerSettings) -> int:
    """The DLQ redrive `maxReceiveCount`: a crash-loop safety net only, SQS's largest value.

    It must stay above the most receives an order can see before the relay ends it itself, or
    SQS would dead-letter healthy orders first: the supplier deadline, then the delivery window,
    with every wait the relay chooses paced by age (relay.domain.retry_pacing.receive_bound).
    A deadline and window that could need more receives than SQS allows fail here, at synth.
    """
    bound = receive_bound(
        settings.give_up_after_seconds,
        settings.delivery_window_seconds,
        min_poll_delay=min(settings.poll_base_seconds / 2, 3.0),
    )
    if bound > SQS_MAX_RECEIVE_COUNT:
        raise SettingsError(
            f"GIVE_UP_AFTER_SECONDS + DELIVERY_WINDOW_SECONDS allow up to {bound} receives of "
            f"one message, more than SQS's maxReceiveCount limit of {SQS_MAX_RECEIVE_COUNT}: "
            "shorten the delivery window or the deadline"
        )
    return SQS_MAX_RECEIVE_COUNT


# SQS keeps a message at most 14 days; the orders queue keeps one a day longer than the relay
# needs it (deadline + delivery window), so retention never ends an order the relay would not.
SQS_MAX_RETENTION_SECONDS = 14 * 86400
RETENTION_MARGIN_SECONDS = 86400


def queue_retention_seconds(settings: PollerSettings) -> int:
    needed = settings.give_up_after_seconds + settings.delivery_window_seconds
    retention = int(max(4 * 86400, needed + RETENTION_MARGIN_SECONDS))
    if retention > SQS_MAX_RETENTION_SECONDS:
        raise SettingsError(
            "GIVE_UP_AFTER_SECONDS + DELIVERY_WINDOW_SECONDS + a day must fit in SQS's 14-day "
            "message retention"
        )
    return retention


# The poller stops this long before its function times out (relay.handlers.poller).
POLLER_END_MARGIN_SECONDS = 3.0
SWEEPER_END_MARGIN_SECONDS = 15.0


def check_time_budgets(
    settings: PollerSettings, poller_timeout: float, sweeper_timeout: float
) -> None:
    """Synth-time check that every bound fits inside the functions that run it: one whole
    FoxReload request (connect + read, bounded in total) and one whole webhook must fit in a
    poller invocation; the webhook must end while its lease is held; the sweeper must keep its
    end margin and still have time for a page."""
    fetch = settings.http_connect_timeout + settings.http_read_timeout
    poll_and_send = fetch + settings.webhook_timeout + POLLER_END_MARGIN_SECONDS
    if poll_and_send > poller_timeout:
        raise SettingsError(
            f"HTTP_CONNECT_TIMEOUT_SECONDS + HTTP_READ_TIMEOUT_SECONDS + WEBHOOK_TIMEOUT_SECONDS "
            f"+ {POLLER_END_MARGIN_SECONDS:.0f}s = {poll_and_send:.0f}s does not fit in the "
            f"poller's {poller_timeout:.0f}s timeout"
        )
    if settings.lease_seconds < settings.webhook_timeout + LEASE_MARGIN_SECONDS:
        raise SettingsError(
            f"LEASE_SECONDS must be at least WEBHOOK_TIMEOUT_SECONDS + {LEASE_MARGIN_SECONDS:.0f}"
        )
    if sweeper_timeout < SWEEPER_END_MARGIN_SECONDS + fetch + settings.webhook_timeout:
        raise SettingsError(
            f"the sweeper's {sweeper_timeout:.0f}s timeout leaves no time to read a page and "
            "send a webhook after its end margin"
        )
