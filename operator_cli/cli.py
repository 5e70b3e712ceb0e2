"""Argument parsing and dispatch for `python -m operator_cli`.

Each command module exposes

    def register(subparsers: argparse._SubParsersAction) -> None

which adds its subcommands and sets `func` on each with `parser.set_defaults(func=run)`, where
`run(args: argparse.Namespace, target: operator_cli.target.Target) -> int` returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from operator_cli import balance_commands, dlq_commands, order_commands
from operator_cli.target import LOCAL_STATE_ENV, TargetError, resolve

COMMAND_MODULES = (order_commands, dlq_commands, balance_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m operator_cli",
        description="Operate the FoxReload Delivery Relay on AWS or on the local stack.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--env", metavar="NAME", help="AWS: the environment in cdk.json (stack FoxReloadRelay-NAME)"
    )
    where.add_argument(
        "--local",
        metavar="STATE_FILE",
        help=f"the local stack's state file (default: ${LOCAL_STATE_ENV})",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        target = resolve(args.env, args.local)
        return int(args.func(args, target))
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: AWS call failed: {exc}", file=sys.stderr)
        return 1
