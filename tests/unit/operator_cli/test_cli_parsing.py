"""The operator CLI's command line: Typer, options anywhere, examples, validation first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from operator_cli import cli, common
from operator_cli.target import TargetError

ROOT = Path(__file__).resolve().parents[3]
UUID = "3F2B8C1E-9A4D-4C7B-8E21-5D6F7A8B9C0D"


def leaf_commands() -> list[list[str]]:
    """Every runnable command, as its words (e.g. ["dlq", "redrive"])."""
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(typer.main.get_command(cli.build_app()), [])
    return found


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str | None]]:
    """Stand-in for target resolution (the first AWS call): records where it was asked to act,
    then stops the command with a TargetError (exit 2)."""
    calls: list[tuple[str | None, str | None]] = []

    def fake(env: str | None, local: str | None) -> None:
        calls.append((env, local))
        raise TargetError("stopped by the test")

    monkeypatch.setattr(common, "resolve", fake)
    return calls


def test_every_command_is_listed_with_an_example_in_its_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = leaf_commands()
    assert {" ".join(c) for c in commands} >= {
        "enqueue",
        "show",
        "redeliver",
        "dlq list",
        "dlq redrive",
        "dlq purge",
        "dlq tasks",
        "balance record",
        "balance topup",
        "balance show",
    }
    for words in [[], ["dlq"], ["balance"], *commands]:
        assert cli.main([*words, "--help"]) == 0
        out = capsys.readouterr().out
        assert "Examples:" in out, words
        example = f"python -m operator_cli {' '.join(words)}".rstrip()
        # the example runs this very command (--env may come first)
        flat = " ".join(out.replace("--env prod ", "").split())
        assert example in flat, (words, out)


@pytest.mark.parametrize(
    "argv",
    [
        ["--env", "prod", "dlq", "list"],
        ["dlq", "--env", "prod", "list"],
        ["dlq", "list", "--env", "prod"],
        ["dlq", "list", "--env=prod", "--json"],
        ["dlq", "redrive", UUID, "--env", "prod", "shop-order-7"],
        ["show", UUID, "--env", "prod"],
        ["show", "--ref", "shop-10042", "--env", "prod"],
        ["redeliver", UUID, "--env", "prod", "shop-order-7"],
        ["balance", "show", "--env", "prod", "--json"],
    ],
)
def test_env_is_accepted_in_any_position(
    resolved: list[tuple[str | None, str | None]], argv: list[str]
) -> None:
    assert cli.main(argv) == 2
    assert resolved == [("prod", None)]


def test_local_after_the_command_and_conflicts(
    resolved: list[tuple[str | None, str | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["dlq", "tasks", "--local", "/tmp/state.json"]) == 2
    assert resolved == [(None, "/tmp/state.json")]
    assert cli.main(["--env", "dev", "dlq", "list", "--env", "prod"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert len(resolved) == 1, "a contradictory line never reaches AWS"


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "../x"],
        ["enqueue", "a;rm -rf /"],
        ["dlq", "redrive", UUID, "not an id"],
        ["show", "x" * 65],
        ["redeliver", UUID, "../x"],
    ],
)
def test_an_invalid_order_id_is_reported_as_such_before_any_aws_call(
    resolved: list[tuple[str | None, str | None]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)  # missing credentials must not be what is said
    assert cli.main(["--env", "prod", *argv]) == 2
    err = capsys.readouterr().err
    assert "invalid order id" in err
    assert "credentials" not in err.lower()
    assert resolved == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["dlq", "redrive"], "--all, --reason REASON or ORDER_ID"),
        (["dlq", "redrive", "--all", UUID], "not both"),
        (["dlq", "redrive", "--reason", "not_json"], "--include-poison"),
        (["dlq", "redrive", "--reason", "deadlin"], "unknown reason"),
        (["dlq", "list", "--reason", "bogus"], "unknown reason"),
        (["dlq", "list", "--max", "0"], "--max"),
        (["dlq", "purge", "--yes"], "--reason REASON"),
        (["dlq", "purge", "--reason", "deadline", "--yes"], "--force"),
        (["dlq", "purge", "--reason", "none", "--yes"], "--force"),
        (["dlq", "purge", "--reason", "not_json"], "--yes"),
        (["balance", "record", "-5"], "AMOUNT"),
        (["show"], "either ORDER_ID or --ref"),
        (["show", UUID, "--ref", "shop-1"], "either ORDER_ID or --ref"),
        (["show", "--ref", "r" * 257], "1-256 characters"),
        (["show", "--ref", ""], "1-256 characters"),
        (["redeliver"], "ORDER_ID"),
    ],
)
def test_unsafe_or_contradictory_lines_are_refused_before_any_aws_call(
    resolved: list[tuple[str | None, str | None]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    assert cli.main([*argv, "--env", "prod"]) == 2
    assert said in " ".join(capsys.readouterr().err.split())
    assert resolved == []


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "redrive", "--reason", "not_json", "--include-poison"],
        ["dlq", "redrive", "--reason", "deadline,webhook_rejected", "--reason", "none"],
        ["dlq", "purge", "--reason", "deadline", "--force", "--yes"],
        ["dlq", "purge", "--reason", "NOT_JSON,empty_body", "--yes"],
    ],
)
def test_asked_for_explicitly_the_same_lines_go_ahead(
    resolved: list[tuple[str | None, str | None]], argv: list[str]
) -> None:
    assert cli.main([*argv, "--env", "prod"]) == 2  # stopped by the stand-in resolution
    assert resolved == [("prod", None)]


def test_python_dash_m_entry_point_still_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "operator_cli", "dlq", "redrive", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--include-poison" in done.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "operator_cli", "dlq", "list", "--env", "nosuchenv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 2
    assert "nosuchenv" in unknown.stderr and "Traceback" not in unknown.stderr
