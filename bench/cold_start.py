"""Cold start: importing the poller module in fresh interpreters, relative to `import boto3`.

Each sample is a new `python -S -c` process that times only the import (perf_counter around it),
so interpreter start-up is excluded; each figure is the median of `runs` samples (>= 10), the
probes interleaved so that load on the machine and disk-cache warmth affect them alike.

The interpreter sees what the deployed function sees, not the development environment:
- only the packages of functions/requirements.txt (the Lambda asset), linked into a temporary
  directory from this environment's site-packages; `-S` keeps site-packages off the path. The
  development environment has extras that change imports: with rich and click installed httpx
  also loads its command line client (~90 ms here);
- LAMBDA_TASK_ROOT set, as in Lambda: Powertools' Tracer is then enabled (it patches botocore,
  as deployed), and the X-Ray SDK samples locally; outside Lambda the SDK's recorder builds a
  botocore X-Ray client for centralised sampling while being imported (~200 ms here) that no
  deployed function pays.

Probes: `boto3` (`import boto3`), `poller` (`import relay.handlers.poller`), `tracer`
(Powertools' Tracer with the X-Ray SDK, created as the poller's first invocation creates it,
after everything the poller imports is loaded: what that invocation pays on top of the import)
`poller_dev` (the poller in the development environment without LAMBDA_TASK_ROOT, the former
method, for comparison) and `poller_source` (the poller with no bytecode to read: every module
compiled from source, as each cold start did while the asset shipped no .pyc files; see
stacks/bundling.py).
Skips cleanly while `relay.handlers.poller` does not import.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "functions" / "requirements.txt"
TARGET = 1.5  # poller import / boto3 import

_TIMED = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
# Everything the poller imports, loaded before the tracer (built on the first invocation) is timed.
_BEFORE_TRACER = (
    "import asyncio, boto3, httpx, relay.runtime, relay.names; "
    "import aws_lambda_powertools.logging, aws_lambda_powertools.metrics; "
    "import aws_lambda_powertools.utilities.batch; "
)
PROBES: dict[str, tuple[str, str]] = {
    # name: (setup, timed code)
    "boto3": ("", "import boto3"),
    "poller": ("", "import relay.handlers.poller"),
    "tracer": (
        _BEFORE_TRACER,
        "from aws_lambda_powertools import Tracer; "
        "Tracer(patch_modules=relay.names.TRACED_MODULES)",
    ),
    "poller_dev": ("", "import relay.handlers.poller"),
    "poller_source": ("", "import relay.handlers.poller"),
}


def lambda_site(target: Path, requirements: Path = REQUIREMENTS) -> list[str]:
    """Link the installed distributions named in `requirements` into `target`: a directory that
    holds the Lambda asset's packages and nothing else. Returns the distributions linked."""
    names = []
    for line in requirements.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name = re.split(r"[=<>!~\[; ]", spec, maxsplit=1)[0]
        dist = importlib.metadata.distribution(name)
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or ()}
        for top in sorted(tops):
            if top in ("..", "__pycache__") or top.endswith(("-stubs", ".pth")):
                continue
            link = target / top
            if not link.exists():
                link.symlink_to(base / top)
        names.append(name)
    return names


def _env(site: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.pop("LAMBDA_TASK_ROOT", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the bytecode cache, as a deployed package has
    env["POWERTOOLS_SERVICE_NAME"] = "bench"
    env["POWERTOOLS_METRICS_NAMESPACE"] = "Bench"
    env["AWS_DEFAULT_REGION"] = "eu-west-1"
    paths = [str(ROOT / "functions")]
    if site is not None:
        paths.insert(0, str(site))
        env["LAMBDA_TASK_ROOT"] = str(ROOT / "functions")
    else:
        paths.insert(0, str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _sample(name: str, site: Path) -> float:
    setup, code = PROBES[name]
    dev = name.endswith("_dev")
    env = _env(None if dev else site)
    if name.endswith("_source"):
        # The bytecode cache looked for in an empty directory, and nothing written there.
        env["PYTHONPYCACHEPREFIX"] = str(site / "no-bytecode")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed probe
        [sys.executable, *([] if dev else ["-S"]), "-c", setup + _TIMED.format(code=code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ImportError(done.stderr.strip().splitlines()[-1] if done.stderr else name)
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 11) -> dict[str, Any]:
    runs = max(10, runs)
    site = Path(tempfile.mkdtemp(prefix="bench-lambda-site-"))
    try:
        linked = lambda_site(site)
        try:
            for name in PROBES:  # also warms the bytecode cache, like a deployed package
                _sample(name, site)
        except (ImportError, subprocess.SubprocessError) as exc:
            return {"skipped": f"relay.handlers.poller does not import yet: {exc}"}
        samples: dict[str, list[float]] = {name: [] for name in PROBES}
        for _ in range(runs):
            for name in PROBES:
                samples[name].append(_sample(name, site))
    finally:
        shutil.rmtree(site, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "runs": runs,
        "packages": linked,
        "poller_import_s": median["poller"],
        "boto3_import_s": median["boto3"],
        "poller_vs_boto3": median["poller"] / median["boto3"],
        "target": TARGET,
        "tracer_s": median["tracer"],
        "tracer_share_of_poller": median["tracer"] / median["poller"],
        "poller_dev_import_s": median["poller_dev"],
        "poller_source_import_s": median["poller_source"],
        "samples": samples,
    }


def describe(result: dict[str, Any] | None) -> str:
    if result is None:
        return "cold start: not run"
    if "skipped" in result:
        return f"cold start: SKIPPED - {result['skipped']}"
    met = "met" if result["poller_vs_boto3"] <= result["target"] else "NOT met"
    return (
        f"cold start (median of {result['runs']} fresh interpreters, the Lambda asset's "
        f"packages, LAMBDA_TASK_ROOT set): import relay.handlers.poller "
        f"{1000 * result['poller_import_s']:.0f} ms, import boto3 "
        f"{1000 * result['boto3_import_s']:.0f} ms -> {result['poller_vs_boto3']:.2f} x boto3 "
        f"(target <= {result['target']} x: {met})\n"
        f"  plus, on the first invocation, Tracer + X-Ray SDK (botocore patched): "
        f"{1000 * result['tracer_s']:.0f} ms = {100 * result['tracer_share_of_poller']:.0f}% "
        f"of the poller's import\n"
        f"  the same import in the development environment outside Lambda: "
        f"{1000 * result['poller_dev_import_s']:.0f} ms"
        + (
            f"\n  the same import with no bytecode to read (an asset without .pyc files): "
            f"{1000 * result['poller_source_import_s']:.0f} ms"
            if "poller_source_import_s" in result  # not in reports written before it existed
            else ""
        )
    )


if __name__ == "__main__":
    print(describe(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 11)))
