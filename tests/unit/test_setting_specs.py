"""Each setting is declared once (relay.setting_specs): these fail when a setting is declared in
one place and not another, or when two spellings or two defaults disagree."""

from __future__ import annotations

import dataclasses
import re

import pytest

from relay.domain.schedule import POLICY_NAMES, policy_named
from relay.monitor_settings import MONITOR_ENV_NAMES, MonitorSettings
from relay.setting_specs import BY_CDK_KEY, BY_NAME, REQUIRED, SPECS, SettingsError, camel
from relay.settings import ENV_NAMES, PollerSettings
from stacks.config import (
    EnvironmentConfig,
    FoxReloadRelayProps,
    environment_config,
    load_context,
)

# The monitors reach FoxReload only for a balance endpoint; the poller always does.
MONITOR_OPTIONAL = {"foxreload_base_url", "foxreload_api_key_secret"}
POLLER_ENV = {
    "FOXRELOAD_BASE_URL": "https://fox.test",
    "FOXRELOAD_API_KEY_SECRET": "k",
    "LEDGER_TABLE": "t",
    "ORDERS_QUEUE_URL": "q",
    "DLQ_URL": "d",
    "SINK_WEBHOOK_URL": "https://shop.test/hook",
    "SINK_WEBHOOK_SECRET": "s",
}


def test_names_are_unique_in_every_spelling() -> None:
    names = [s.name for s in SPECS]
    envs = [s.env for s in SPECS if s.env]
    keys = [s.cdk for s in SPECS if s.cdk]
    assert len(names) == len(set(names))
    assert len(envs) == len(set(envs))
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("cls", [PollerSettings, MonitorSettings])
def test_every_settings_field_has_a_spec_and_the_specs_default(cls: type) -> None:
    for field in dataclasses.fields(cls):
        spec = BY_NAME[field.name]
        assert spec.env is not None, field.name
        if cls is MonitorSettings and field.name in MONITOR_OPTIONAL:
            assert spec.default is REQUIRED and field.default == ""
            continue
        expected = dataclasses.MISSING if spec.default is REQUIRED else spec.default
        assert field.default == expected, field.name
        assert type(field.default) is type(expected), field.name


def test_the_env_names_are_the_specs() -> None:
    assert ENV_NAMES == {f.name: BY_NAME[f.name].env for f in dataclasses.fields(PollerSettings)}
    assert MONITOR_ENV_NAMES == {
        f.name: BY_NAME[f.name].env for f in dataclasses.fields(MonitorSettings)
    }


def test_env_names_and_cdk_keys_are_derived_except_the_deployed_ones() -> None:
    """Overrides only where a deployed name cannot be derived; adding one needs a reason here."""
    env_overrides = {s.name: s.env for s in SPECS if s.env and s.env != s.name.upper()}
    assert env_overrides == {
        "http_connect_timeout": "HTTP_CONNECT_TIMEOUT_SECONDS",
        "http_read_timeout": "HTTP_READ_TIMEOUT_SECONDS",
        "webhook_timeout": "WEBHOOK_TIMEOUT_SECONDS",
        "http_timeout": "BALANCE_HTTP_TIMEOUT_SECONDS",
        "service_name": "POWERTOOLS_SERVICE_NAME",
        "metrics_namespace": "POWERTOOLS_METRICS_NAMESPACE",
    }
    cdk_overrides = {s.name: s.cdk for s in SPECS if s.cdk and s.cdk != camel(s.name)}
    assert cdk_overrides == {
        "foxreload_api_key_secret": "apiKeySecretName",
        "sink_webhook_url": "webhookUrl",
        "sink_webhook_secret": "webhookSecretName",
        "foxreload_rate_limit_per_minute": "rateLimitPerMinute",
    }
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", s.env) for s in SPECS if s.env)
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", s.cdk) for s in SPECS if s.cdk)


def test_every_cdk_json_key_maps_to_a_spec_and_a_props_field() -> None:
    props = {f.name: f for f in dataclasses.fields(EnvironmentConfig)}
    for env_name, raw in load_context()["relay:environments"].items():
        for key in raw:
            assert key in BY_CDK_KEY, (env_name, key)
    for key, spec in BY_CDK_KEY.items():
        field = props[spec.props_field or ""]
        if spec.default is REQUIRED:
            assert field.default is dataclasses.MISSING, key
        elif field.default_factory is not dataclasses.MISSING:
            assert field.default_factory() == spec.default, key
        else:
            assert field.default == spec.default, key
    # and every props field but the deployment's name comes from cdk.json
    assert set(props) - {"name"} == {s.props_field for s in SPECS if s.props_field}
    assert {f.name for f in dataclasses.fields(FoxReloadRelayProps)} <= set(props)


def test_the_stack_passes_every_cdk_setting_the_poller_reads() -> None:
    config = environment_config("dev")
    settings = config.poller_settings(ledger_table="t", orders_queue_url="q", dlq_url="d")
    for field in dataclasses.fields(PollerSettings):
        spec = BY_NAME[field.name]
        if spec.props_field is not None:
            assert getattr(settings, field.name) == getattr(config, spec.props_field), field.name


def test_validate_accepts_exactly_the_policies_policy_named_knows() -> None:
    for name in POLICY_NAMES:
        settings = PollerSettings.from_env({**POLLER_ENV, "POLL_POLICY": name})
        policy_named(settings.poll_policy, 9, 60, 0.1)
    with pytest.raises(ValueError, match="unknown poll policy"):
        policy_named("nightly", 9, 60, 0.1)
    with pytest.raises(SettingsError, match="pollPolicy / POLL_POLICY"):
        PollerSettings.from_env({**POLLER_ENV, "POLL_POLICY": "nightly"})


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("POLL_JITTER", "1.5"),
        ("POLL_BASE_SECONDS", "0"),
        ("GIVE_UP_AFTER_SECONDS", "-1"),
        ("SWEEP_BUDGET_SHARE", "1"),
        ("FOXRELOAD_RATE_LIMIT_PER_MINUTE", "9"),
        ("LEDGER_TTL_DAYS", "0"),
        ("POLL_CAP_SECONDS", "inf"),
    ],
)
def test_out_of_range_variables_name_the_variable_and_the_cdk_key(env: str, value: str) -> None:
    spec = next(s for s in SPECS if s.env == env)
    with pytest.raises(SettingsError, match=env) as raised:
        PollerSettings.from_env({**POLLER_ENV, env: value})
    if spec.cdk is not None:
        assert spec.cdk in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("pollJitter", 2, "cdk.json pollJitter / POLL_JITTER must be within"),
        ("pollPolicy", "nightly", "cdk.json pollPolicy / POLL_POLICY must be one of"),
        ("rateLimitPerMinute", 5, "rateLimitPerMinute / FOXRELOAD_RATE_LIMIT_PER_MINUTE"),
        ("giveUpAfterSeconds", "900", "must be a float"),
        ("sweepEnabled", 1, "must be a bool"),
        ("maxConcurrency", 1, "cdk.json maxConcurrency must be within"),
    ],
)
def test_cdk_json_values_are_checked_against_the_spec(
    key: str, value: object, complaint: str
) -> None:
    context = load_context()
    context["relay:environments"]["dev"][key] = value
    with pytest.raises(SettingsError, match=re.escape(complaint)):
        environment_config("dev", context)


def test_the_checked_in_environments_pass() -> None:
    for name in load_context()["relay:environments"]:
        config = environment_config(name)
        config.poller_settings(ledger_table="t", orders_queue_url="q", dlq_url="d").validate()
        config.monitor_settings(ledger_table="t").validate()


def test_the_sweeps_lag_target_default_is_the_settings():
    """SweepConfig stands alone in the domain (the bench builds it directly): its lag target
    must not drift from the setting's default, which the deployed sweeper passes in."""
    from relay.domain.coverage import SweepConfig
    from relay.service.poll_gate import sweep_config

    assert SweepConfig().lag_target == BY_NAME["sweep_lag_target_seconds"].default
    settings = PollerSettings.from_env({**POLLER_ENV, "SWEEP_LAG_TARGET_SECONDS": "45"})
    assert sweep_config(settings).lag_target == 45.0
