"""The Lambda code asset: `functions/` plus functions/requirements.txt as arm64 wheels, built
locally.

No Docker: pip downloads manylinux aarch64 / py3-none-any wheels for CPython 3.12 straight from
the index and unpacks them into the asset, then `functions/` is copied over. `--only-binary`
means a dependency without an arm64 wheel fails the synth here instead of failing at import time
in Lambda.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Bundles on this machine; returning True tells CDK not to fall back to Docker."""

    def __init__(self, requirements: Path = REQUIREMENTS, source: Path = FUNCTIONS_DIR) -> None:
        self._requirements = requirements
        self._source = source

    def try_bundle(self, output_dir: str, *_options: object, **_kw_options: object) -> bool:
        # `--no-compile`: .pyc files carry timestamps and would change the asset hash every synth.
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            pip_install_command(output_dir, self._requirements),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BundlingError(f"pip install for {PIP_PLATFORM} failed:\n{result.stderr}")
        shutil.copytree(self._source, output_dir, dirs_exist_ok=True, ignore=_IGNORED)
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
