"""The poller's cold start loads only what its invocations use: not the monitors' adapters."""

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
    "relay.monitor_settings",
    "relay.domain.balance",
    "relay.domain.stuck_orders",
)


def _loaded_after(statement: str) -> set[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "functions")])
    env.setdefault("POWERTOOLS_SERVICE_NAME", "test")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Test")
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    probe = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_poller_leaves_the_monitor_adapters_unloaded() -> None:
    loaded = _loaded_after("import relay.handlers.poller")
    assert "relay.runtime" in loaded
    assert loaded.isdisjoint(MONITOR_ONLY), sorted(loaded & set(MONITOR_ONLY))
