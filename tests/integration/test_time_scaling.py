"""The local stack's time scaling: settings on FoxReload's timeline divided by the scale, with
floors, and a request budget the scaled simulator's sliding window never refuses (no stack
needed: pure arithmetic on cdk.json's environment)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from local_stack.provision import placeholder_settings
from local_stack.stack import (
    JITTER_ALLOWANCE_SECONDS,
    MIN_SWEEP_INTERVAL_SECONDS,
    relay_budget_per_minute,
    scaled_overrides,
)
from relay.domain.rate_budget import WINDOW_SECONDS
from relay.service.poll_gate import budget_split
from relay.settings import PollerSettings
from stacks.config import environment_config

pytestmark = pytest.mark.wire


def _settings(overrides: dict[str, str]) -> PollerSettings:
    config = environment_config()
    env = {**placeholder_settings(config).to_env(), **overrides}
    return PollerSettings.from_env(env)


def test_at_x1_the_relay_runs_exactly_as_configured() -> None:
    config = environment_config()
    overrides = scaled_overrides(config, 1.0)
    assert overrides == {
        "FOXRELOAD_RATE_LIMIT_PER_MINUTE": f"{config.rate_limit_per_minute:g}",
    }


@pytest.mark.parametrize("scale", [2.0, 10.0, 20.0, 100.0])
def test_timeline_settings_shrink_with_the_scale_but_not_below_real_time_floors(
    scale: float,
) -> None:
    config = environment_config()
    base = placeholder_settings(config)
    s = _settings(scaled_overrides(config, scale))
    assert "FOXRELOAD_TIME_SCALE" not in scaled_overrides(config, scale)
    assert s.give_up_after_seconds == pytest.approx(config.give_up_after_seconds / scale)
    assert s.poll_base_seconds >= 1  # SQS visibility: whole seconds, at least 1
    assert s.sweep_max_horizon_seconds == pytest.approx(
        max(3 * s.sweep_cover_margin_seconds, base.sweep_max_horizon_seconds / scale)
    )
    assert s.sweep_max_defer_seconds >= 1
    assert s.sweep_cover_margin_seconds >= 1
    assert s.sweep_min_interval_seconds >= MIN_SWEEP_INTERVAL_SECONDS
    assert s.sweep_min_interval_seconds <= s.sweep_max_interval_seconds
    assert s.sweep_stale_grace_seconds >= 4
    # the lag target is a lag on FoxReload's timeline: it shrinks with the scale
    assert s.sweep_lag_target_seconds == pytest.approx(
        max(s.sweep_min_interval_seconds, base.sweep_lag_target_seconds / scale)
    )


@pytest.mark.parametrize(("limit", "scale"), [(100, 1.0), (100, 10.0), (20, 10.0), (100, 20.0)])
def test_the_budget_fits_the_simulators_window_with_and_without_the_sweep(
    limit: int, scale: float
) -> None:
    config = environment_config()
    budget = relay_budget_per_minute(config, limit, scale)
    split = budget_split(
        replace(placeholder_settings(config), foxreload_rate_limit_per_minute=budget)
    )
    window = WINDOW_SECONDS / scale + (JITTER_ALLOWANCE_SECONDS if scale > 1 else 0.0)

    def most(buckets: tuple[object, ...]) -> float:
        return sum(b.burst + b.rate * window for b in buckets)  # type: ignore[attr-defined]

    assert most((split.sweeper, split.per_order)) <= limit + 1e-6
    assert most((split.whole,)) <= limit + 1e-6
    # and not needlessly small: one more request a minute would not fit
    bigger = budget_split(
        replace(placeholder_settings(config), foxreload_rate_limit_per_minute=budget + 1)
    )
    assert most((bigger.whole,)) > limit or budget + 1 > limit * scale
    if scale == 1:
        assert budget == limit  # exactly cdk.json's at x1
