"""Synthesize each environment once per session, with asset bundling skipped (fast, no pip)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.infrastructure.synth_helpers import ENVIRONMENTS, Synth, synthesize, synthesize_variant


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def synth(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _cached(request.param, tmp_path_factory)


_CACHE: dict[str, Synth] = {}


def _cached(env: str, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    if env not in _CACHE:
        _CACHE[env] = synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}"))
    return _CACHE[env]


@pytest.fixture(scope="session")
def synth_by_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synth]]:
    yield {env: _cached(env, tmp_path_factory) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def no_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, dict[str, Any]]:
    """prod with `sweepEnabled: false` (and its cdk-nag validation report)."""
    return synthesize_variant("prod", tmp_path_factory.mktemp("no-sweep"), {"sweepEnabled": False})
