"""MonitorSettings: the monitors' environment, parsed once per cold start."""

from __future__ import annotations

import pytest

from relay.monitor_settings import MonitorSettings
from relay.settings import DEFAULT_LEDGER_TTL_DAYS, SettingsError


def test_round_trip_through_the_environment() -> None:
    settings = MonitorSettings(
        ledger_table="t",
        foxreload_base_url="https://fox.test",
        foxreload_api_key_secret="s",
        balance_endpoint="/v1/balance",
        stuck_window_seconds=300.0,
    )
    assert MonitorSettings.from_env(settings.to_env()) == settings


def test_defaults_and_estimate_mode() -> None:
    settings = MonitorSettings.from_env({"LEDGER_TABLE": "t", "BALANCE_ENDPOINT": ""})
    assert settings.stuck_window_seconds == 600
    assert settings.balance_url is None


@pytest.mark.parametrize(
    ("base", "endpoint", "url"),
    [
        ("https://fox.test", "/v1/balance", "https://fox.test/v1/balance"),
        ("https://fox.test/", "v1/balance", "https://fox.test/v1/balance"),
        ("https://fox.test", "https://other.test/b", "https://other.test/b"),
    ],
)
def test_balance_url(base: str, endpoint: str, url: str) -> None:
    env = {
        "LEDGER_TABLE": "t",
        "FOXRELOAD_BASE_URL": base,
        "FOXRELOAD_API_KEY_SECRET": "s",
        "BALANCE_ENDPOINT": endpoint,
    }
    assert MonitorSettings.from_env(env).balance_url == url


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"LEDGER_TABLE": "t", "STUCK_WINDOW_SECONDS": "ten"},
        {"LEDGER_TABLE": "t", "STUCK_WINDOW_SECONDS": "0"},
        {"LEDGER_TABLE": "t", "STUCK_WINDOW_SECONDS": "nan"},
        {"LEDGER_TABLE": "t", "BALANCE_ENDPOINT": "/v1/balance"},  # no key secret
        {"LEDGER_TABLE": "t", "BALANCE_ENDPOINT": "/v1/balance", "FOXRELOAD_API_KEY_SECRET": "s"},
    ],
)
def test_bad_environments_fail_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        MonitorSettings.from_env(env)


def test_spend_hours_settle_no_sooner_than_the_longest_invocation() -> None:
    base = {"LEDGER_TABLE": "t"}
    assert MonitorSettings.from_env(base).spend_settle_seconds == 900
    with pytest.raises(SettingsError, match="SPEND_SETTLE_SECONDS"):
        MonitorSettings.from_env({**base, "SPEND_SETTLE_SECONDS": "300"})


def test_zero_thresholds_are_valid_and_out_of_range_ones_are_not() -> None:
    base = {"LEDGER_TABLE": "t"}
    zero = MonitorSettings.from_env(
        {**base, "STUCK_RATIO_PERCENT": "0", "LOW_BALANCE_SPEND_MULTIPLE": "0"}
    )
    assert (zero.stuck_ratio_percent, zero.low_balance_spend_multiple) == (0, 0)
    for bad in ({"STUCK_RATIO_PERCENT": "100"}, {"LOW_BALANCE_SPEND_MULTIPLE": "-1"}):
        with pytest.raises(SettingsError):
            MonitorSettings.from_env({**base, **bad})


def test_the_ledger_ttl_is_the_pollers_setting() -> None:
    base = {"LEDGER_TABLE": "t"}
    assert MonitorSettings.from_env(base).ledger_ttl_days == DEFAULT_LEDGER_TTL_DAYS
    assert MonitorSettings.from_env({**base, "LEDGER_TTL_DAYS": "30"}).ledger_ttl_days == 30
    for bad in ("0", "thirty", "1.5"):
        with pytest.raises(SettingsError):
            MonitorSettings.from_env({**base, "LEDGER_TTL_DAYS": bad})
