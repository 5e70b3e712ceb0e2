"""The Lambda asset carries reproducible CPython 3.12 bytecode (stacks/bundling.py).

/var/task is read-only: without .pyc files every cold start compiles boto3, botocore and the
relay again. The bytecode must not change the asset hash from synth to synth (CDK bundles into a
new temporary directory each time), so it is compiled with hash-based invalidation and the
deployed path recorded, not the temporary one.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import pytest

from stacks.bundling import (
    BYTECODE_PYTHON_ENV,
    LAMBDA_TASK_ROOT,
    PIP_PYTHON_VERSION,
    _runs_version,
    bytecode_interpreter,
    compile_bytecode,
    compile_command,
)

MODULE = 'CHOICES = {"alpha", "beta", "gamma"}\n\ndef pick(x):\n    return x in CHOICES\n'


def python_312() -> str | None:
    """A runnable CPython 3.12: what the bundler finds, or one a version manager installed."""
    found = bytecode_interpreter()
    if found is not None:
        return found
    pattern = str(
        Path.home() / ".pyenv" / "versions" / f"{PIP_PYTHON_VERSION}.*" / "bin" / "python3"
    )
    for candidate in sorted(glob.glob(pattern)):
        if _runs_version(candidate, PIP_PYTHON_VERSION):
            return candidate
    return None


def asset(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "choices.py").write_text(MODULE)
    return root


def test_the_compile_command_is_reproducible_and_names_the_deployed_path() -> None:
    command = compile_command("/tmp/bundling-temp-1", "python3.12")
    assert command[command.index("--invalidation-mode") + 1] == "unchecked-hash"
    assert command[command.index("-s") + 1] == "/tmp/bundling-temp-1"
    assert command[command.index("-p") + 1] == LAMBDA_TASK_ROOT == "/var/task"


def test_an_interpreter_counts_only_if_it_runs_the_runtime_version() -> None:
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert _runs_version(sys.executable, mine)
    assert not _runs_version(sys.executable, "2.7")
    assert not _runs_version("/nonexistent/python3.12", PIP_PYTHON_VERSION)


def test_an_override_that_does_not_run_is_passed_over() -> None:
    found = bytecode_interpreter({BYTECODE_PYTHON_ENV: "/nonexistent/python3.12"})
    assert found != "/nonexistent/python3.12"
    assert found is None or _runs_version(found, PIP_PYTHON_VERSION)


def test_without_a_312_the_asset_ships_as_source_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="without bytecode"):
        assert compile_bytecode(str(asset(tmp_path)), None) is False
    assert not list(tmp_path.rglob("*.pyc"))


def test_two_bundles_of_the_same_sources_carry_the_same_bytecode(tmp_path: Path) -> None:
    interpreter = python_312()
    if interpreter is None:
        pytest.skip(f"no runnable CPython {PIP_PYTHON_VERSION} on this machine")
    first, second = asset(tmp_path / "bundling-temp-a"), asset(tmp_path / "bundling-temp-b")
    # Different hash seeds in the calling environment must not matter either.
    os.environ["PYTHONHASHSEED"] = "1"
    try:
        assert compile_bytecode(str(first), interpreter)
        os.environ["PYTHONHASHSEED"] = "2"
        assert compile_bytecode(str(second), interpreter)
    finally:
        os.environ.pop("PYTHONHASHSEED", None)
    tag = "cpython-" + PIP_PYTHON_VERSION.replace(".", "")
    pycs = sorted(p.relative_to(first) for p in first.rglob("*.pyc"))
    assert [p.name for p in pycs] == [f"__init__.{tag}.pyc", f"choices.{tag}.pyc"]
    for relative in pycs:
        data = (first / relative).read_bytes()
        assert data == (second / relative).read_bytes(), relative
        assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, unchecked
    choices = (first / "pkg" / "__pycache__" / f"choices.{tag}.pyc").read_bytes()
    assert b"/var/task/pkg/choices.py" in choices
    assert str(tmp_path).encode() not in choices
