"""Poller configuration: environment variables parsed once per cold start into a typed object.

Each setting's type, default, range and spellings are declared once, in relay.setting_specs.
`PollerSettings.to_env()` is the inverse of `from_env()`; the CDK stack and the local stack both
build the Lambda environment through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from relay.domain.retry_pacing import SQS_MAX_RECEIVE_COUNT, receive_bound
from relay.setting_specs import BY_NAME, SettingsError, check_fields, default, env_names

__all__ = ["SettingsError", "PollerSettings", "ENV_NAMES", "DEFAULT_LEDGER_TTL_DAYS"]

# The lease outlives the webhook by this much, so a send ends while the lease is still ours.
LEASE_MARGIN_SECONDS: Final = 5.0
# Ledger items expire this many days after their last message (LEDGER_TTL_DAYS); the balance
# monitor can look no further back (MonitorSettings reads the same variable).
DEFAULT_LEDGER_TTL_DAYS: Final[int] = default("ledger_ttl_days")


@dataclass(frozen=True)
class PollerSettings:
    """The poller's settings, read and checked once per cold start from its environment."""

    foxreload_base_url: str
    foxreload_api_key_secret: str
    ledger_table: str
    orders_queue_url: str
    dlq_url: str
    sink_webhook_url: str
    sink_webhook_secret: str
    sweep_tick_queue_url: str = default("sweep_tick_queue_url")
    poll_policy: str = default("poll_policy")
    poll_base_seconds: float = default("poll_base_seconds")
    poll_cap_seconds: float = default("poll_cap_seconds")
    poll_jitter: float = default("poll_jitter")
    give_up_after_seconds: float = default("give_up_after_seconds")
    delivery_window_seconds: float = default("delivery_window_seconds")
    not_found_grace_seconds: float = default("not_found_grace_seconds")
    auth_failure_delay_seconds: float = default("auth_failure_delay_seconds")
    lease_seconds: float = default("lease_seconds")
    http_connect_timeout: float = default("http_connect_timeout")
    http_read_timeout: float = default("http_read_timeout")
    webhook_timeout: float = default("webhook_timeout")
    ledger_ttl_days: int = default("ledger_ttl_days")
    foxreload_rate_limit_per_minute: float = default("foxreload_rate_limit_per_minute")
    sweep_enabled: bool = default("sweep_enabled")
    sweep_budget_share: float = default("sweep_budget_share")
    sweep_max_horizon_seconds: float = default("sweep_max_horizon_seconds")
    sweep_min_interval_seconds: float = default("sweep_min_interval_seconds")
    sweep_max_interval_seconds: float = default("sweep_max_interval_seconds")
    sweep_cover_margin_seconds: float = default("sweep_cover_margin_seconds")
    sweep_max_defer_seconds: float = default("sweep_max_defer_seconds")
    sweep_stale_grace_seconds: float = default("sweep_stale_grace_seconds")
    sweep_strategy: str = default("sweep_strategy")
    sweep_lag_target_seconds: float = default("sweep_lag_target_seconds")
    allow_insecure_http: bool = default("allow_insecure_http")
    service_name: str = default("service_name")
    metrics_namespace: str = default("metrics_namespace")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PollerSettings:
        settings = cls(**fields_from_env(cls, ENV_NAMES, env))
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        return fields_to_env(self, ENV_NAMES)

    def validate(self) -> None:
        """Each value within its spec's range, then what ties settings together."""
        check_fields(self)
        if not self.poll_base_seconds <= self.poll_cap_seconds:
            raise SettingsError("need 0 < POLL_BASE_SECONDS <= POLL_CAP_SECONDS")
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


ENV_NAMES: Final[dict[str, str]] = env_names(PollerSettings)


def fields_from_env(
    cls: type[Any], names: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, Any]:
    """A settings dataclass's field values from `env` (`names`: field -> variable). Unset or
    empty variables keep the field's default; the field's spec parses the rest. Every required
    variable that is missing is named in one error."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for field in dataclasses.fields(cls):
        name = names[field.name]
        raw = env.get(name)
        if raw is None or raw == "":
            if field.default is dataclasses.MISSING:
                missing.append(name)
            continue
        values[field.name] = BY_NAME[field.name].parse(raw)
    if missing:
        raise SettingsError(f"missing environment variables: {', '.join(sorted(missing))}")
    return values


def fields_to_env(settings: Any, names: Mapping[str, str]) -> dict[str, str]:
    """The inverse of `fields_from_env`: every field as its environment variable."""
    return {names[f.name]: str(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


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
