"""`pipx install .` gives a working `foxrelay` command outside the checkout (docs/operator-cli.md).

The wheel is built from the checkout and installed (without dependencies: this venv has them)
into a scratch directory; the command then runs from another directory with no PYTHONPATH, so
it can only import what the wheel holds.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from stacks.config import CDK_JSON_ENV, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_foxrelay_script_names_a_callable_entry_point() -> None:
    target = PYPROJECT["project"]["scripts"]["foxrelay"]
    module_name, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_the_wheel_installs_a_foxrelay_command_that_runs_outside_the_checkout(
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    (wheel,) = wheels.glob("foxreload_delivery_relay-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("operator_cli/cli.py", "relay/handlers/poller.py", "stacks/config.py"):
        assert module in names, module
    assert not any(n.startswith(("tests/", "local_stack/", "bench/")) for n in names)

    target = tmp_path / "installed"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-4000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", CDK_JSON_ENV}}
    env["PYTHONPATH"] = str(target)
    command = [str(target / "bin" / "foxrelay")]
    shown = subprocess.run(
        [*command, "--help"], cwd=elsewhere, env=env, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert "--env" in shown.stdout and "--local" in shown.stdout
    # --env needs cdk.json: outside the checkout a one-line error says where it looked.
    no_config = subprocess.run(
        [*command, "--env", "prod", "dlq", "list"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert no_config.returncode == 2, no_config.stderr
    assert CDK_JSON_ENV in no_config.stderr and "Traceback" not in no_config.stderr
