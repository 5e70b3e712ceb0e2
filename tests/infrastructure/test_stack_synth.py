"""`make synth` (python -m stacks.synth_all) and `python app.py` as a user runs them: separate
processes, no AWS credentials, and a `docker` on PATH that fails loudly if anything calls it.

The synth_all test really bundles (pip downloads the arm64 wheels from PyPI, or its cache), so it
is the one slow test here: one run covers every environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stacks.config import ROOT
from tests.infrastructure.synth_helpers import ENVIRONMENTS


def _clean_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The current environment without AWS_* / CDK_* / PYTHONPATH, and a trap `docker`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CDK_")) and k != "PYTHONPATH"
    }
    trap_dir = tmp_path / "trap-bin"
    trap_dir.mkdir()
    marker = tmp_path / "docker-was-called"
    docker = trap_dir / "docker"
    docker.write_text(f'#!/bin/sh\necho "$@" > "{marker}"\nexit 97\n')
    docker.chmod(0o755)
    env["PATH"] = f"{trap_dir}{os.pathsep}{env.get('PATH', '')}"
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    return env, marker


def _code_asset_dir(outdir: Path, stack_name: str) -> Path:
    """The one zip (directory) asset: the functions' code, shared by all three functions."""
    assets = json.loads((outdir / f"{stack_name}.assets.json").read_text())
    (code,) = [a for a in assets["files"].values() if a["source"].get("packaging") == "zip"]
    return outdir / code["source"]["path"]


def test_synth_all_writes_every_environment_without_docker_or_credentials(
    tmp_path: Path,
) -> None:
    env, docker_marker = _clean_env(tmp_path)
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [sys.executable, "-m", "stacks.synth_all", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert not docker_marker.exists(), "docker was invoked"
    for name in ENVIRONMENTS:
        stack_name = f"FoxReloadRelay-{name}"
        outdir = out / name
        assert (outdir / f"{stack_name}.template.json").is_file()
        asset = _code_asset_dir(outdir, stack_name)
        # the relay's code, Powertools from the pinned requirements, and arm64 CPython 3.12 wheels
        assert (asset / "relay" / "names.py").is_file()
        assert (asset / "relay" / "handlers" / "__init__.py").is_file()
        assert (asset / "aws_lambda_powertools").is_dir()
        pinned = next(
            line.split("==")[1].strip()
            for line in (ROOT / "functions" / "requirements.txt").read_text().splitlines()
            if line.startswith("aws-lambda-powertools==")
        )
        assert (asset / f"aws_lambda_powertools-{pinned}.dist-info").is_dir()
        native = list(asset.rglob("*.so"))
        assert native, "expected at least one compiled wheel (wrapt)"
        assert all("cpython-312-aarch64-linux-gnu" in p.name for p in native), native
        assert not list(asset.rglob("__pycache__")), "bytecode would make the asset hash unstable"
        assert not (asset / "requirements.txt").exists(), "the pins are installed, not shipped"
        report = json.loads((outdir / "validation-report.json").read_text())
        assert all(p["violations"] == [] for p in report["pluginReports"])


def test_app_py_synthesizes_the_environment_chosen_with_dash_c_env(tmp_path: Path) -> None:
    """What `cdk synth -c env=prod` does: the CLI passes context and an outdir in the env."""
    env, docker_marker = _clean_env(tmp_path)
    out = tmp_path / "cli.out"
    env["CDK_OUTDIR"] = str(out)
    env["CDK_CONTEXT_JSON"] = json.dumps({"env": "prod", "aws:cdk:bundling-stacks": []})
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    templates = sorted(p.name for p in out.glob("*.template.json"))
    assert templates == ["FoxReloadRelay-prod.template.json"]
    template = json.loads((out / templates[0]).read_text())
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["DeletionPolicy"] == "Retain"  # prod's retainData, not dev's default
    assert not docker_marker.exists()
