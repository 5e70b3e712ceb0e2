"""The poller's cold start loads only what its invocations use: not the monitors' adapters, not
the sweeper's planning, and not the X-Ray SDK, which its first invocation loads when it builds
the tracer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MONITOR_ONLY = (
    "relay.adapters.balance_endpoint",
    "relay.adapters.balance_store",
    "relay.adapters.ledger_queries",
    "relay.adapters.spend_index",
    "relay.monitor_runtime",
    "relay.monitor_settings",
    "relay.domain.balance",
    "relay.domain.stuck_orders",
)
# The sweeper's planning: the poller reads the sweep's settings and coverage only.
SWEEPER_ONLY = (
    "relay.domain.sweep",
    "relay.domain.page_cadence",
    "relay.domain.sweep_economics",
    "relay.service.sweeper",
    "relay.service.sweep_strategy",
)
# Powertools' batch utility imports every event data class it supports: the poller answers its
# partial batch response itself (relay.handlers.sqs_batch).
NOT_NEEDED = (
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
)
# Loaded by the first invocation (the tracer), not by the import.
FIRST_INVOCATION = (
    "aws_xray_sdk",
    "aws_xray_sdk.core",
    "aws_xray_sdk.core.patcher",
    "wrapt",
)


def _run(probe: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "functions")])
    env.setdefault("POWERTOOLS_SERVICE_NAME", "test")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Test")
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    # As on Lambda: Powertools' Tracer is enabled and patches botocore.
    env["LAMBDA_TASK_ROOT"] = str(ROOT / "functions")
    env["POWERTOOLS_TRACE_DISABLED"] = "false"
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.splitlines()[-1]


def _loaded_after(statement: str) -> set[str]:
    return set(
        json.loads(_run(f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"))
    )


def test_importing_the_poller_leaves_the_monitor_adapters_unloaded() -> None:
    loaded = _loaded_after("import relay.handlers.poller")
    assert "relay.runtime" in loaded
    assert loaded.isdisjoint(MONITOR_ONLY), sorted(loaded & set(MONITOR_ONLY))


def test_importing_the_poller_leaves_the_sweepers_planning_unloaded() -> None:
    loaded = _loaded_after("import relay.handlers.poller")
    assert "relay.domain.coverage" in loaded
    assert loaded.isdisjoint(SWEEPER_ONLY), sorted(loaded & set(SWEEPER_ONLY))


def test_importing_the_poller_leaves_the_xray_sdk_to_the_first_invocation() -> None:
    loaded = _loaded_after("import relay.handlers.poller")
    assert "aws_lambda_powertools" in loaded
    assert loaded.isdisjoint(FIRST_INVOCATION), sorted(loaded & set(FIRST_INVOCATION))


def test_importing_the_poller_leaves_powertools_batch_and_event_classes_unloaded() -> None:
    loaded = _loaded_after("import relay.handlers.poller")
    assert "relay.handlers.sqs_batch" in loaded
    assert loaded.isdisjoint(NOT_NEEDED), sorted(loaded & set(NOT_NEEDED))


def test_the_first_invocation_builds_the_tracer_and_patches_botocore() -> None:
    probe = """
import json, sys
import relay.handlers.poller as poller
before = "aws_xray_sdk.core" in sys.modules
traced = poller.traced_handler()
from aws_xray_sdk.core import patcher
print(json.dumps({
    "before": before,
    "patched": sorted(patcher._PATCHED_MODULES),
    "name": traced.__name__,
    "once": poller.traced_handler() is traced,
}))
"""
    seen = json.loads(_run(probe))
    assert seen["before"] is False
    assert "botocore" in seen["patched"]
    assert "httpx" not in seen["patched"]
    assert seen["name"] == "handler"  # the subsegment stays `## handler`
    assert seen["once"] is True
