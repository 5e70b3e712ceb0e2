"""The Lambda code asset: `functions/` plus functions/requirements.txt as arm64 wheels, built
locally.

No Docker: pip downloads manylinux aarch64 / py3-none-any wheels for CPython 3.12 straight from
the index and unpacks them into the asset, then `functions/` is copied over. `--only-binary`
means a dependency without an arm64 wheel fails the synth here instead of failing at import time
in Lambda.

The asset also carries its bytecode, compiled by a CPython 3.12 when this machine has one
($RELAY_BYTECODE_PYTHON, the running interpreter, or `python3.12` on the PATH): /var/task is
read-only, so without .pyc files every cold start compiles boto3, botocore and the relay again
(on this machine the poller's import took 2.4 s without its bytecode, 0.5 s with it). The .pyc
files are `unchecked-hash` ones (no source timestamps) compiled with a fixed hash seed, so the
same sources give the same bytes and the asset hash stays put from synth to synth. Without a 3.12
the asset ships as source and a warning says what that costs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from stacks.config import ROOT

FUNCTIONS_DIR = ROOT / "functions"
REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"

PIP_PLATFORM = "manylinux2014_aarch64"
PIP_PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

# The requirements file stays in the source fingerprint (a changed pin is a new asset) but is not
# shipped: the asset holds what it lists, installed.
_IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", REQUIREMENTS.name
)


class BundlingError(RuntimeError):
    """pip could not produce the arm64 dependency set."""


def pip_install_command(output_dir: str, requirements: Path = REQUIREMENTS) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "-r", str(requirements),
        "--target", output_dir,
        "--platform", PIP_PLATFORM,
        "--only-binary=:all:",
        "--python-version", PIP_PYTHON_VERSION,
        "--implementation", "cp",
    ]  # fmt: skip


LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the asset
BYTECODE_PYTHON_ENV = "RELAY_BYTECODE_PYTHON"  # a CPython 3.12 to compile with, if not on PATH


def bytecode_interpreter(environ: Mapping[str, str] = os.environ) -> str | None:
    """A CPython of the Lambda runtime's version (.pyc files are per minor version) that runs:
    $RELAY_BYTECODE_PYTHON, this interpreter, or `python3.12` on the PATH; None if none does
    (a version manager's shim can sit on the PATH for a version it will not run)."""
    candidates = [environ.get(BYTECODE_PYTHON_ENV, ""), sys.executable]
    candidates.append(shutil.which(f"python{PIP_PYTHON_VERSION}") or "")
    for candidate in filter(None, candidates):
        if _runs_version(candidate, PIP_PYTHON_VERSION):
            return candidate
    return None


def _runs_version(interpreter: str, version: str) -> bool:
    try:
        probe = subprocess.run(  # noqa: S603 - a fixed probe of an interpreter
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0 and probe.stdout.strip() == version


def compile_command(output_dir: str, interpreter: str) -> list[str]:
    """Compile every module under `output_dir` in place, reproducibly (see the module doc)."""
    return [
        interpreter, "-m", "compileall", "-q", "-j", "0",
        "--invalidation-mode", "unchecked-hash",
        # The file names recorded are where Lambda unpacks the asset, not this temporary
        # directory (whose name changes every synth), so tracebacks name the deployed files.
        "-s", output_dir, "-p", LAMBDA_TASK_ROOT,
        output_dir,
    ]  # fmt: skip


def compile_bytecode(output_dir: str, interpreter: str | None) -> bool:
    """Add the asset's .pyc files; False (with a warning) when no 3.12 interpreter is here."""
    if interpreter is None:
        warnings.warn(
            f"no python{PIP_PYTHON_VERSION} found: the Lambda asset ships without bytecode, and "
            "every cold start compiles boto3 and the relay again (seconds, not milliseconds)",
            stacklevel=2,
        )
        return False
    env = dict(os.environ, PYTHONHASHSEED="0")  # frozenset constants in a fixed order
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        compile_command(output_dir, interpreter),
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise BundlingError(f"compiling the asset's bytecode failed:\n{output}")
    return True


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Bundles on this machine; returning True tells CDK not to fall back to Docker."""

    def __init__(self, requirements: Path = REQUIREMENTS, source: Path = FUNCTIONS_DIR) -> None:
        self._requirements = requirements
        self._source = source

    def try_bundle(self, output_dir: str, *_options: object, **_kw_options: object) -> bool:
        # `--no-compile`: pip's .pyc files would carry timestamps and change the asset hash every
        # synth; compile_bytecode adds reproducible ones once the relay's code is in.
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            pip_install_command(output_dir, self._requirements),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BundlingError(f"pip install for {PIP_PLATFORM} failed:\n{result.stderr}")
        shutil.copytree(self._source, output_dir, dirs_exist_ok=True, ignore=_IGNORED)
        compile_bytecode(output_dir, bytecode_interpreter())
        return True


def function_code() -> lambda_.Code:
    """One asset for every relay function (they share `functions/` and the requirements)."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        exclude=["**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            # Never pulled: the local bundler always succeeds or raises.
            image=RUNTIME.bundling_image,
            local=LocalPipBundling(),
        ),
    )
