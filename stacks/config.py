"""Per-environment settings, read from `cdk.json` context: the one source for the stack, the
poller's environment variables and the local stack.

Which keys an environment may set, their defaults and ranges come from relay.setting_specs (a
cdk.json key is the camelCase of the props field); `environment_config` refuses an unknown key
or an out-of-range value, naming the cdk.json key and the variable it becomes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from relay.monitor_settings import MonitorSettings
from relay.setting_specs import BY_CDK_KEY, BY_NAME, SPECS, SettingsError, default
from relay.settings import PollerSettings

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"
# Where an installed operator CLI (`foxrelay`, no checkout around it) finds the environments.
CDK_JSON_ENV = "FOXRELAY_CDK_JSON"


@dataclass(frozen=True, kw_only=True)
class FoxReloadRelayProps:
    """What one relay deployment needs: a cdk.json environment's settings, snake_case (cdk.json
    spells them in camelCase; relay.setting_specs declares both). `name` names the deployment:
    queues `foxreload-relay-<name>-orders[-dlq]`, alarms and dashboard
    `FoxReloadRelay-<name>[-…]`."""

    name: str
    foxreload_base_url: str
    api_key_secret_name: str
    webhook_secret_name: str
    webhook_url: str
    poll_policy: str = default("poll_policy")
    poll_base_seconds: float = default("poll_base_seconds")
    poll_cap_seconds: float = default("poll_cap_seconds")
    poll_jitter: float = default("poll_jitter")
    give_up_after_seconds: float = default("give_up_after_seconds")
    delivery_window_seconds: float = default("delivery_window_seconds")
    not_found_grace_seconds: float = default("not_found_grace_seconds")
    poller_timeout_seconds: int = default("poller_timeout_seconds")
    poller_memory_mb: int = default("poller_memory_mb")
    batch_size: int = default("batch_size")
    batching_window_seconds: int = default("batching_window_seconds")
    max_concurrency: int = default("max_concurrency")
    log_retention_days: int = default("log_retention_days")
    encrypt_logs: bool = default("encrypt_logs")  # function log groups under a customer KMS key
    stuck_ratio_threshold: float = default("stuck_ratio_threshold")
    api_error_rate_threshold: float = default("api_error_rate_threshold")
    low_balance_spend_multiple: float = default("low_balance_spend_multiple")
    balance_check_minutes: int = default("balance_check_minutes")
    balance_endpoint: str = default("balance_endpoint")
    api_error_min_attempts: int = default("api_error_min_attempts")
    sweep_enabled: bool = default("sweep_enabled")  # the completion sweeper
    sweep_strategy: str = default("sweep_strategy")  # auto: sweep only where it pays
    sweep_lag_target_seconds: float = default("sweep_lag_target_seconds")
    rate_limit_per_minute: float = default("foxreload_rate_limit_per_minute")
    pager_emails: tuple[str, ...] = field(default_factory=tuple)
    ticket_emails: tuple[str, ...] = field(default_factory=tuple)
    retain_data: bool = default("retain_data")

    @property
    def stack_name(self) -> str:
        return f"FoxReloadRelay-{self.name}"

    @property
    def queue_visibility_seconds(self) -> int:
        """At least 6 x the poller timeout, as AWS advises for SQS event sources."""
        return 6 * self.poller_timeout_seconds

    def poller_settings(
        self,
        *,
        ledger_table: str,
        orders_queue_url: str,
        dlq_url: str,
        sweep_tick_queue_url: str = "",
    ) -> PollerSettings:
        # Every poller setting cdk.json can set, from the props field that holds it; the rest
        # keep their defaults.
        from_cdk = {
            f.name: getattr(self, spec.props_field)
            for f in fields(PollerSettings)
            if (spec := BY_NAME[f.name]).props_field is not None
        }
        return PollerSettings(
            **from_cdk,
            ledger_table=ledger_table,
            orders_queue_url=orders_queue_url,
            dlq_url=dlq_url,
            sweep_tick_queue_url=sweep_tick_queue_url,
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


# cdk.json key -> props field, for every setting cdk.json can set.
_KEYS = {key: spec.props_field for key, spec in BY_CDK_KEY.items() if spec.props_field}


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
    for key, value in raw.items():
        check_cdk_value(key, value)
    values: dict[str, Any] = {_KEYS[k]: v for k, v in raw.items()}
    for key in ("pager_emails", "ticket_emails"):
        values[key] = tuple(values.get(key, ()))
    return EnvironmentConfig(name=env_name, **values)


def check_cdk_value(key: str, value: Any) -> None:
    """A cdk.json value of the spec's type and within its range (SettingsError otherwise)."""
    spec = BY_CDK_KEY[key]
    if value is None and spec.default is None:
        return
    expected: tuple[type, ...] = (spec.kind,)
    if spec.kind is float:
        expected = (int, float)
    elif spec.kind is tuple:
        expected = (list, tuple)
    if isinstance(value, bool) != (spec.kind is bool) or not isinstance(value, expected):
        raise SettingsError(
            f"{spec.describe()} must be a {spec.kind.__name__}, not {type(value).__name__}"
        )
    spec.check(value)


# Every spec cdk.json can set has a props field (checked here, at import, and by the tests).
assert all(s.props_field in {f.name for f in fields(EnvironmentConfig)} for s in SPECS if s.cdk)
