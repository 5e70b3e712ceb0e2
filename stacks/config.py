"""Per-environment settings, read from `cdk.json` context: the one source for the stack, the
poller's environment variables and the local stack.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from relay.monitor_settings import MonitorSettings
from relay.settings import PollerSettings

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"
# Where an installed operator CLI (`foxrelay`, no checkout around it) finds the environments.
CDK_JSON_ENV = "FOXRELAY_CDK_JSON"


@dataclass(frozen=True, kw_only=True)
class FoxReloadRelayProps:
    """What one relay deployment needs: a cdk.json environment's settings, snake_case (cdk.json
    spells them in camelCase, `_KEYS` maps one to the other). `name` names the deployment: queues
    `foxreload-relay-<name>-orders[-dlq]`, alarms and dashboard `FoxReloadRelay-<name>[-…]`."""

    name: str
    foxreload_base_url: str
    api_key_secret_name: str
    webhook_secret_name: str
    webhook_url: str
    poll_policy: str = "relay"
    poll_base_seconds: float = 9.0
    poll_cap_seconds: float = 60.0
    poll_jitter: float = 0.1
    give_up_after_seconds: float = 900.0
    delivery_window_seconds: float = 86400.0  # webhook retries once terminal (then DLQ)
    not_found_grace_seconds: float = 60.0
    poller_timeout_seconds: int = 30
    poller_memory_mb: int = 256
    batch_size: int = 10
    batching_window_seconds: int = 1
    max_concurrency: int = 5
    log_retention_days: int = 14
    encrypt_logs: bool = True  # the function log groups under a customer-managed KMS key
    stuck_ratio_threshold: float = 0.01
    api_error_rate_threshold: float = 0.2
    low_balance_spend_multiple: float = 2.0
    balance_check_minutes: int = 5
    balance_endpoint: str = ""
    api_error_min_attempts: int = 20
    sweep_enabled: bool = True  # the completion sweeper (docs/performance.md)
    rate_limit_per_minute: float = 100.0  # the FoxReload key's limit (1000 on enterprise)
    pager_emails: tuple[str, ...] = field(default_factory=tuple)
    ticket_emails: tuple[str, ...] = field(default_factory=tuple)
    retain_data: bool = False

    @property
    def stack_name(self) -> str:
        return f"FoxReloadRelay-{self.name}"

    @property
    def queue_visibility_seconds(self) -> int:
        """At least 6 x the poller timeout, as AWS advises for SQS event sources."""
        return 6 * self.poller_timeout_seconds

    def poller_settings(
        self, *, ledger_table: str, orders_queue_url: str, dlq_url: str
    ) -> PollerSettings:
        return PollerSettings(
            foxreload_base_url=self.foxreload_base_url,
            foxreload_api_key_secret=self.api_key_secret_name,
            ledger_table=ledger_table,
            orders_queue_url=orders_queue_url,
            dlq_url=dlq_url,
            sink_webhook_url=self.webhook_url,
            sink_webhook_secret=self.webhook_secret_name,
            poll_policy=self.poll_policy,
            poll_base_seconds=self.poll_base_seconds,
            poll_cap_seconds=self.poll_cap_seconds,
            poll_jitter=self.poll_jitter,
            give_up_after_seconds=self.give_up_after_seconds,
            delivery_window_seconds=self.delivery_window_seconds,
            not_found_grace_seconds=self.not_found_grace_seconds,
            sweep_enabled=self.sweep_enabled,
            foxreload_rate_limit_per_minute=self.rate_limit_per_minute,
        )

    def monitor_settings(self, *, ledger_table: str) -> MonitorSettings:
        """The balance and stuck-order monitors' settings (both read the same variables)."""
        return MonitorSettings(
            ledger_table=ledger_table,
            foxreload_base_url=self.foxreload_base_url,
            foxreload_api_key_secret=self.api_key_secret_name,
            balance_endpoint=self.balance_endpoint,
            stuck_ratio_percent=round(self.stuck_ratio_threshold * 100, 6),
            low_balance_spend_multiple=self.low_balance_spend_multiple,
        )


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig(FoxReloadRelayProps):
    """A cdk.json environment: the relay's props plus where its stack goes. Without `account`
    (or `region`) the stack takes CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION, which the CDK CLI
    sets from your credentials, and is environment-agnostic when those are unset too."""

    account: str | None = None
    region: str | None = None

    @property
    def props(self) -> FoxReloadRelayProps:
        """The construct's props alone (without account and region)."""
        names = {f.name for f in fields(FoxReloadRelayProps)}
        return FoxReloadRelayProps(**{k: v for k, v in vars(self).items() if k in names})


_KEYS = {
    "account": "account",
    "region": "region",
    "foxreloadBaseUrl": "foxreload_base_url",
    "apiKeySecretName": "api_key_secret_name",
    "webhookSecretName": "webhook_secret_name",
    "webhookUrl": "webhook_url",
    "pollPolicy": "poll_policy",
    "pollBaseSeconds": "poll_base_seconds",
    "pollCapSeconds": "poll_cap_seconds",
    "pollJitter": "poll_jitter",
    "giveUpAfterSeconds": "give_up_after_seconds",
    "deliveryWindowSeconds": "delivery_window_seconds",
    "notFoundGraceSeconds": "not_found_grace_seconds",
    "pollerTimeoutSeconds": "poller_timeout_seconds",
    "pollerMemoryMb": "poller_memory_mb",
    "batchSize": "batch_size",
    "batchingWindowSeconds": "batching_window_seconds",
    "maxConcurrency": "max_concurrency",
    "logRetentionDays": "log_retention_days",
    "encryptLogs": "encrypt_logs",
    "stuckRatioThreshold": "stuck_ratio_threshold",
    "apiErrorRateThreshold": "api_error_rate_threshold",
    "lowBalanceSpendMultiple": "low_balance_spend_multiple",
    "balanceCheckMinutes": "balance_check_minutes",
    "balanceEndpoint": "balance_endpoint",
    "apiErrorMinAttempts": "api_error_min_attempts",
    "sweepEnabled": "sweep_enabled",
    "rateLimitPerMinute": "rate_limit_per_minute",
    "pagerEmails": "pager_emails",
    "ticketEmails": "ticket_emails",
    "retainData": "retain_data",
}


def cdk_json_path() -> Path:
    """$FOXRELAY_CDK_JSON, else the checkout's cdk.json, else ./cdk.json (an installed CLI)."""
    explicit = os.environ.get(CDK_JSON_ENV)
    if explicit:
        return Path(explicit)
    return CDK_JSON if CDK_JSON.is_file() else Path.cwd() / "cdk.json"


def load_context(path: Path | None = None) -> dict[str, Any]:
    path = path or cdk_json_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(
            f"no cdk.json at {path}: run from the relay's checkout or set ${CDK_JSON_ENV}"
        ) from None
    context: dict[str, Any] = json.loads(text)["context"]
    return context


def environment_config(
    name: str | None = None, context: dict[str, Any] | None = None
) -> EnvironmentConfig:
    ctx = load_context() if context is None else context
    envs: dict[str, dict[str, Any]] = ctx["relay:environments"]
    env_name = name or ctx.get("relay:defaultEnvironment", "dev")
    if env_name not in envs:
        raise KeyError(f"unknown environment {env_name!r}; cdk.json defines {sorted(envs)}")
    raw = envs[env_name]
    unknown = set(raw) - set(_KEYS)
    if unknown:
        raise KeyError(f"cdk.json environment {env_name!r} has unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {_KEYS[k]: v for k, v in raw.items()}
    for key in ("pager_emails", "ticket_emails"):
        values[key] = tuple(values.get(key, ()))
    return EnvironmentConfig(name=env_name, **values)
