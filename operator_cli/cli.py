"""The command line of `python -m operator_cli` (Typer), and `main()`.

Each command module exposes `register(app: typer.Typer) -> None`, which adds its commands (or a
sub-app) to the root app; `COMMAND_MODULES` lists them. A command takes the shared `--env` /
`--local` options (`operator_cli.common.EnvOption`, `LocalOption`), validates its input in typer
callbacks, and ends with `common.execute(ctx, env, local, action)`, which resolves the target and
turns `TargetError` and AWS client errors into a one-line message and exit code 2 / 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from operator_cli import balance_commands, dlq_commands, order_commands
from operator_cli.common import PROG, EnvOption, LocalOption, State, examples, remember_where
from operator_cli.target import Target

COMMAND_MODULES = (order_commands, dlq_commands, balance_commands)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name=PROG,
        help="Operate the FoxReload Delivery Relay on AWS (--env NAME) or on the local stack "
        "(--local STATE_FILE). --env and --local may be given anywhere on the line.",
        epilog=examples(
            "--env prod dlq list",
            "dlq redrive --all --env prod --wait",
            "show 3f2b8c1e-9a4d-4c7b-8e21-5d6f7a8b9c0d --local /tmp/relay-state.json",
        ),
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        pretty_exceptions_show_locals=False,  # locals may hold an API key
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def where(ctx: typer.Context, env: EnvOption = None, local: LocalOption = None) -> None:
        remember_where(ctx, env, local)

    for module in COMMAND_MODULES:
        module.register(app)
    return app


def main(argv: Sequence[str] | None = None, *, target: Target | None = None) -> int:
    """Run one command line; the exit code. `target` skips resolution (tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        build_app()(args=args, prog_name=PROG, obj=State(target=target), standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
