"""Cold start: importing the poller module in fresh interpreters, relative to `import boto3`.

Each sample is a new `python -c` process that times only the import (perf_counter around it),
so interpreter start-up is excluded; the figure is the median of `runs` samples (>= 10),
interleaved poller / boto3 so that disk-cache warmth affects both alike. Skips cleanly while
`relay.handlers.poller` does not import.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
MODULES = {"poller": "relay.handlers.poller", "boto3": "boto3"}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "functions")])
    env.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def _sample(module: str) -> float:
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed probe
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ImportError(done.stderr.strip().splitlines()[-1] if done.stderr else module)
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 11) -> dict[str, Any]:
    runs = max(10, runs)
    try:
        _sample(MODULES["poller"])  # also warms the bytecode cache, like a deployed package
        _sample(MODULES["boto3"])
    except (ImportError, subprocess.SubprocessError) as exc:
        return {"skipped": f"relay.handlers.poller does not import yet: {exc}"}
    samples: dict[str, list[float]] = {name: [] for name in MODULES}
    for _ in range(runs):
        for name, module in MODULES.items():
            samples[name].append(_sample(module))
    poller = statistics.median(samples["poller"])
    boto3 = statistics.median(samples["boto3"])
    return {
        "runs": runs,
        "poller_import_s": poller,
        "boto3_import_s": boto3,
        "poller_vs_boto3": poller / boto3,
        "samples": samples,
    }


def describe(result: dict[str, Any] | None) -> str:
    if result is None:
        return "cold start: not run (--skip-handler)"
    if "skipped" in result:
        return f"cold start: SKIPPED - {result['skipped']}"
    return (
        f"cold start (median of {result['runs']} fresh interpreters): import "
        f"relay.handlers.poller {1000 * result['poller_import_s']:.0f} ms, import boto3 "
        f"{1000 * result['boto3_import_s']:.0f} ms -> {result['poller_vs_boto3']:.2f} x boto3"
    )


if __name__ == "__main__":
    print(describe(measure()))
