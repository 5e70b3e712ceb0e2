"""Balance and stuck-order monitor configuration: environment variables parsed once per cold start.

`MonitorSettings.to_env()` is the inverse of `from_env()`, so the CDK stack and the local stack can
build both monitors' environment through it, as they do the poller's through PollerSettings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from relay.setting_specs import check_fields, default, env_names
from relay.settings import SettingsError, fields_from_env, fields_to_env

MAX_LAMBDA_TIMEOUT_SECONDS: Final = 900


@dataclass(frozen=True)
class MonitorSettings:
    ledger_table: str
    # Required by the poller, optional here: the monitors reach FoxReload only for a balance
    # endpoint (validate says so), and estimate without one.
    foxreload_base_url: str = ""
    foxreload_api_key_secret: str = ""
    balance_endpoint: str = default("balance_endpoint")
    stuck_window_seconds: float = default("stuck_window_seconds")
    # The thresholds the stack's alarms use (cdk.json), so the monitors' own verdicts and logs
    # ("above threshold", "low") say what the alarms will say.
    stuck_ratio_percent: float = default("stuck_ratio_percent")
    low_balance_spend_multiple: float = default("low_balance_spend_multiple")
    spend_settle_seconds: float = default("spend_settle_seconds")
    # The ledger's TTL, as the poller writes it: how far back the balance estimate can look.
    ledger_ttl_days: int = default("ledger_ttl_days")
    http_timeout: float = default("http_timeout")
    service_name: str = default("service_name")
    metrics_namespace: str = default("metrics_namespace")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MonitorSettings:
        settings = cls(**fields_from_env(cls, MONITOR_ENV_NAMES, env))
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        return fields_to_env(self, MONITOR_ENV_NAMES)

    def validate(self) -> None:
        check_fields(self)
        if self.stuck_window_seconds <= 0 or self.ledger_ttl_days <= 0:
            raise SettingsError("STUCK_WINDOW_SECONDS and LEDGER_TTL_DAYS must be > 0")
        if not 0 <= self.stuck_ratio_percent < 100 or self.low_balance_spend_multiple < 0:
            raise SettingsError(
                "need 0 <= STUCK_RATIO_PERCENT < 100 and LOW_BALANCE_SPEND_MULTIPLE >= 0"
            )
        if self.spend_settle_seconds < MAX_LAMBDA_TIMEOUT_SECONDS:
            # An entry is stamped before its claim is written, within one invocation: an hour
            # is final only once the longest possible invocation after it has ended.
            raise SettingsError(
                f"SPEND_SETTLE_SECONDS must be >= {MAX_LAMBDA_TIMEOUT_SECONDS} (Lambda's limit)"
            )
        if self.balance_endpoint and not self.foxreload_api_key_secret:
            raise SettingsError("BALANCE_ENDPOINT needs FOXRELOAD_API_KEY_SECRET")
        if self.balance_endpoint and not self.balance_url:
            raise SettingsError("a relative BALANCE_ENDPOINT needs FOXRELOAD_BASE_URL")

    @property
    def balance_url(self) -> str | None:
        """The balance endpoint's full URL, or None: estimate from operator records and spend."""
        endpoint = self.balance_endpoint.strip()
        if not endpoint:
            return None
        if endpoint.startswith(("https://", "http://")):
            return endpoint
        if not self.foxreload_base_url:
            return None
        return self.foxreload_base_url.rstrip("/") + "/" + endpoint.lstrip("/")


MONITOR_ENV_NAMES: Final[dict[str, str]] = env_names(MonitorSettings)
