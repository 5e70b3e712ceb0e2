"""Balance and stuck-order monitor configuration: environment variables parsed once per cold start.

`MonitorSettings.to_env()` is the inverse of `from_env()`, so the CDK stack and the local stack can
build both monitors' environment through it, as they do the poller's through PollerSettings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from relay.names import METRICS_NAMESPACE, SERVICE_NAME, AlarmThreshold
from relay.settings import DEFAULT_LEDGER_TTL_DAYS, SettingsError, fields_from_env, fields_to_env

MAX_LAMBDA_TIMEOUT_SECONDS: Final = 900


@dataclass(frozen=True)
class MonitorSettings:
    ledger_table: str
    foxreload_base_url: str = ""
    foxreload_api_key_secret: str = ""
    balance_endpoint: str = ""  # empty: estimate; a path (joined to the base URL) or a full URL
    stuck_window_seconds: float = float(AlarmThreshold.STUCK_WINDOW_SECONDS)
    # The thresholds the stack's alarms use (cdk.json), so the monitors' own verdicts and logs
    # ("above threshold", "low") say what the alarms will say.
    stuck_ratio_percent: float = float(AlarmThreshold.STUCK_RATIO_PERCENT)
    low_balance_spend_multiple: float = float(AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE)
    # An hour of the spend index is summed once and kept when it ended this long ago.
    spend_settle_seconds: float = 900.0
    # The ledger's TTL, as the poller writes it: how far back the balance estimate can look.
    ledger_ttl_days: int = DEFAULT_LEDGER_TTL_DAYS
    http_timeout: float = 8.0
    service_name: str = SERVICE_NAME
    metrics_namespace: str = METRICS_NAMESPACE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MonitorSettings:
        settings = cls(**fields_from_env(cls, MONITOR_ENV_NAMES, env, _parse))
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        return fields_to_env(self, MONITOR_ENV_NAMES)

    def validate(self) -> None:
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


MONITOR_ENV_NAMES: Final[dict[str, str]] = {
    "ledger_table": "LEDGER_TABLE",
    "foxreload_base_url": "FOXRELOAD_BASE_URL",
    "foxreload_api_key_secret": "FOXRELOAD_API_KEY_SECRET",
    "balance_endpoint": "BALANCE_ENDPOINT",
    "stuck_window_seconds": "STUCK_WINDOW_SECONDS",
    "stuck_ratio_percent": "STUCK_RATIO_PERCENT",
    "low_balance_spend_multiple": "LOW_BALANCE_SPEND_MULTIPLE",
    "spend_settle_seconds": "SPEND_SETTLE_SECONDS",
    "ledger_ttl_days": "LEDGER_TTL_DAYS",
    "http_timeout": "BALANCE_HTTP_TIMEOUT_SECONDS",
    "service_name": "POWERTOOLS_SERVICE_NAME",
    "metrics_namespace": "POWERTOOLS_METRICS_NAMESPACE",
}


def _parse(name: str, raw: str, default: object) -> object:
    """Numbers (the float fields) must be finite, whole numbers (the int fields) whole; text
    fields are taken as they are."""
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from exc
    if not isinstance(default, float):
        return raw
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r} is not finite")
    return value
