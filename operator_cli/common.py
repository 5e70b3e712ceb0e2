"""What every command shares: where it acts, input validation, and output.

`--env NAME` / `--local STATE_FILE` are accepted at any level (before the command, after it, or
among its arguments). The target is resolved only once the whole command line has been parsed and
validated, so a bad argument is reported as itself, before any AWS call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from operator_cli.dead_letters import KNOWN_REASONS, POISON_REASONS, ScanProgress
from operator_cli.target import LOCAL_STATE_ENV, Target, TargetError, resolve
from relay.domain.order_message import canonical_order_id, is_valid_order_id

PROG = "python -m operator_cli"
WHERE_PANEL = "Where (any position)"

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        metavar="NAME",
        help="AWS: the environment in cdk.json (stack FoxReloadRelay-NAME).",
        rich_help_panel=WHERE_PANEL,
        show_default=False,
    ),
]
LocalOption = Annotated[
    str | None,
    typer.Option(
        "--local",
        metavar="STATE_FILE",
        help=f"The local stack's state file (default: ${LOCAL_STATE_ENV}).",
        rich_help_panel=WHERE_PANEL,
        show_default=False,
    ),
]


@dataclass
class State:
    """ctx.obj: where to act, gathered from every level of the command line."""

    env: str | None = None
    local: str | None = None
    target: Target | None = None  # given, not resolved (tests: cli.main(argv, target=...))

    def remember(self, env: str | None, local: str | None) -> None:
        for name, given, known in (("--env", env, self.env), ("--local", local, self.local)):
            if given is not None and known is not None and given != known:
                message = f"given twice, as {known!r} and {given!r}"
                raise typer.BadParameter(message, param_hint=name)
        self.env = env if env is not None else self.env
        self.local = local if local is not None else self.local


def remember_where(ctx: typer.Context, env: str | None, local: str | None) -> None:
    ctx.ensure_object(State).remember(env, local)


def execute(
    ctx: typer.Context, env: str | None, local: str | None, action: Callable[[Target], int]
) -> NoReturn:
    """Resolve the target (first AWS call), run the command, exit with its code."""
    state = ctx.ensure_object(State)
    state.remember(env, local)
    try:
        target = state.target or resolve(state.env, state.local)
        code = action(target)
    except TargetError as exc:
        error(str(exc))
        code = 2
    except (BotoCoreError, ClientError) as exc:
        error(f"AWS call failed: {exc}")
        code = 1
    raise typer.Exit(code)


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


class Refused(typer.BadParameter):
    """A command line that parses but asks for something contradictory or unsafe: a usage
    error (exit 2) that says only why."""

    def format_message(self) -> str:
        return self.message


def usage_error(ctx: typer.Context, message: str) -> NoReturn:
    raise Refused(message, ctx=ctx)


def examples(*command_lines: str) -> str:
    """A command's help epilog: one runnable example a line."""
    lines = "\n".join(f"  {PROG} {line}" for line in command_lines)
    return f"Examples:\n\n{lines}"


# --- input validation (typer callbacks: run while parsing, before any AWS call) -------------


def _preview(value: str, limit: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def order_id(value: str) -> str:
    """A valid order id, canonical (UUIDs in lower case, as the relay keys them)."""
    if not is_valid_order_id(value):
        raise typer.BadParameter(
            f"invalid order id {_preview(value)}: an order id is a UUID or 1-64 of "
            "letters, digits, '_' and '-'"
        )
    return canonical_order_id(value)


def order_ids(values: list[str] | None) -> list[str]:
    return [order_id(v) for v in values or []]


def reasons(values: list[str] | None) -> list[str]:
    """--reason, repeatable and comma-separated; each a known relay.reason (or 'none')."""
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            reason = part.strip().lower()
            if reason not in KNOWN_REASONS:
                known = ", ".join(sorted(KNOWN_REASONS))
                raise typer.BadParameter(f"unknown reason {_preview(part)}; one of: {known}")
            if reason not in out:
                out.append(reason)
    return out


def poison_of(chosen: list[str]) -> list[str]:
    return [r for r in chosen if r in POISON_REASONS]


# --- output ----------------------------------------------------------------------------------


PIPE_WIDTH = 200  # a table written to a file or a pipe is not squeezed into 80 columns


def console() -> Console:
    """stdout. Untrusted text (bodies, details, ids) is always passed as rich.text.Text or with
    markup off, never as markup."""
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


def progress_console() -> Console:
    return Console(stderr=True, highlight=False)


@contextmanager
def scan_progress(description: str, total: int | None) -> Iterator[ScanProgress | None]:
    """A progress bar on stderr while a DLQ scan runs (only on a terminal)."""
    out = progress_console()
    if not out.is_terminal:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
