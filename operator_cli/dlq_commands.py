"""`dlq list`, `dlq redrive`, `dlq purge` and `dlq tasks`."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from operator_cli import common, dead_letters, move_tasks
from operator_cli.common import (
    EnvOption,
    LocalOption,
    examples,
    execute,
    remember_where,
    scan_progress,
    usage_error,
)
from operator_cli.dead_letters import POISON_REASONS, DeadLetter
from operator_cli.target import Target

SCAN_LIMIT = 100_000
POISON_LIST = ", ".join(sorted(POISON_REASONS))
UUID_EXAMPLE = "3f2b8c1e-9a4d-4c7b-8e21-5d6f7a8b9c0d"

ReasonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--reason",
        metavar="REASON",
        callback=common.reasons,
        help="Only dead letters with this relay.reason (repeat, or comma-separate); "
        "'none' = no relay reason (moved by maxReceiveCount).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def register(app: typer.Typer) -> None:
    dlq = typer.Typer(
        help="Inspect, redrive and purge the dead-letter queue.",
        no_args_is_help=True,
        epilog=examples("--env prod dlq list", "dlq redrive --all --wait --env prod"),
    )
    app.add_typer(dlq, name="dlq")

    @dlq.callback()
    def where(ctx: typer.Context, env: EnvOption = None, local: LocalOption = None) -> None:
        remember_where(ctx, env, local)

    @dlq.command(
        "list",
        epilog=examples(
            "--env prod dlq list", "dlq list --reason deadline,not_found --json --env prod"
        ),
    )
    def list_(
        ctx: typer.Context,
        limit: Annotated[
            int, typer.Option("--max", min=1, help="Look at most at this many messages.")
        ] = 1000,
        reason: ReasonOption = None,
        as_json: JsonOption = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """List dead letters with their reasons (nothing is removed)."""
        execute(ctx, env, local, lambda t: run_list(t, limit, reason or [], as_json=as_json))

    @dlq.command(
        help="Move dead letters back to the orders queue: all, by reason, or by order id.\n\n"
        "Poison is skipped unless --include-poison. Each redriven message keeps its body byte "
        "for byte and gets a fresh deadline; the ledger makes a repeat delivery impossible.",
        epilog=examples(
            "--env prod dlq redrive --all --wait",
            "dlq redrive --reason webhook_rejected --env prod",
            f"dlq redrive {UUID_EXAMPLE} shop-order-7 --env prod",
        ),
    )
    def redrive(
        ctx: typer.Context,
        order_ids: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="ORDER_ID",
                callback=common.order_ids,
                help="Only these orders (UUIDs in any case).",
                show_default=False,
            ),
        ] = None,
        everything: Annotated[
            bool,
            typer.Option(
                "--all",
                help="The whole DLQ but poison (a StartMessageMoveTask on AWS when the DLQ "
                "holds no poison).",
            ),
        ] = False,
        reason: ReasonOption = None,
        include_poison: Annotated[
            bool,
            typer.Option(
                "--include-poison",
                help=f"Redrive poison too ({POISON_LIST}): it comes straight back unless the "
                "relay has changed.",
            ),
        ] = False,
        wait: Annotated[
            bool,
            typer.Option("--wait", help="Follow the move task with progress until it ends."),
        ] = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        selection = _redrive_selection(
            ctx, order_ids or [], everything, reason or [], include_poison
        )
        execute(ctx, env, local, lambda t: run_redrive(t, selection, wait=wait))

    @dlq.command(
        help="Delete poison dead letters for good, by reason.\n\n"
        f"Poison reasons: {POISON_LIST}. Look first with `dlq list --reason REASON`; the deleted "
        "messages are printed (with --json, their bodies too) so the storefront team can be told.",
        epilog=examples(
            "--env prod dlq purge --reason not_json --yes",
            "dlq purge --reason empty_body,invalid_order_id --yes --json --env prod",
        ),
    )
    def purge(
        ctx: typer.Context,
        reason: ReasonOption = None,
        yes: Annotated[
            bool, typer.Option("--yes", help="Really delete: without it nothing is done.")
        ] = False,
        force: Annotated[
            bool,
            typer.Option(
                "--force", help="Allow non-poison reasons (orders that could still be delivered)."
            ),
        ] = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print each deleted message (with its body).")
        ] = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        reasons = _purge_reasons(ctx, reason or [], yes=yes, force=force)
        execute(ctx, env, local, lambda t: run_purge(t, reasons, as_json=as_json))

    @dlq.command(epilog=examples("--env prod dlq tasks", "dlq tasks --json --env prod"))
    def tasks(
        ctx: typer.Context,
        as_json: JsonOption = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """The DLQ's recent message move tasks (status, progress): AWS only."""
        execute(ctx, env, local, lambda t: run_tasks(t, as_json=as_json))


def _redrive_selection(
    ctx: typer.Context,
    ids: list[str],
    everything: bool,
    reasons: list[str],
    include_poison: bool,
) -> Selection:
    """Checked before any AWS call."""
    if not (everything or ids or reasons):
        usage_error(ctx, "say which dead letters: --all, --reason REASON or ORDER_ID...")
    if everything and ids:
        usage_error(ctx, "give --all or ORDER_IDs, not both")
    poison = common.poison_of(reasons)
    if poison and not include_poison:
        usage_error(
            ctx,
            f"{', '.join(poison)} is poison: redriven, it dead-letters again at once. "
            "Add --include-poison to redrive it anyway, or delete it with "
            "`dlq purge --reason REASON --yes`.",
        )
    return Selection(everything, frozenset(ids), frozenset(reasons), include_poison)


def _purge_reasons(
    ctx: typer.Context, reasons: list[str], *, yes: bool, force: bool
) -> frozenset[str]:
    """Checked before any AWS call: poison only (unless --force), and only with --yes."""
    if not reasons:
        usage_error(ctx, f"say which dead letters: --reason REASON (poison: {POISON_LIST})")
    deliverable = [r for r in reasons if r not in POISON_REASONS]
    if deliverable and not force:
        usage_error(
            ctx,
            f"{', '.join(deliverable)} is not poison: those orders can still be delivered "
            "(redrive them). Add --force to delete them anyway.",
        )
    if not yes:
        usage_error(
            ctx,
            "purge deletes dead letters for good: add --yes "
            f"(see them first with `dlq list --reason {','.join(reasons)}`)",
        )
    return frozenset(reasons)


# --- list ------------------------------------------------------------------------------------


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _epoch_text(value: str | None) -> str | None:
    """relay.first_seen is epoch seconds; show it as a UTC time (anything else as is)."""
    try:
        return _when(int(float(value) * 1000)) if value else value
    except ValueError:
        return value


def _by_reason(letters: Iterable[DeadLetter]) -> str:
    counts = Counter(d.reason_key for d in letters)
    return ", ".join(
        f"{reason} {n}" + (" (poison)" if reason in POISON_REASONS else "")
        for reason, n in sorted(counts.items())
    )


def _scan_total(target: Target) -> int | None:
    """The DLQ's approximate depth, for a progress bar (asked only when one is shown)."""
    if not common.progress_console().is_terminal:
        return None
    return dead_letters.approximate_depth(target.client("sqs"), target.dlq_url)


def run_list(target: Target, limit: int, reasons: list[str], *, as_json: bool = False) -> int:
    with scan_progress("reading the DLQ", _scan_total(target)) as progress:
        letters = dead_letters.peek(
            target.client("sqs"), target.dlq_url, limit=limit, progress=progress
        )
    shown = [d for d in letters if not reasons or d.reason_key in reasons]
    if as_json:
        for letter in shown:
            print(json.dumps(letter.summary(), sort_keys=True))
        return 0
    if not letters:
        print("DLQ is empty")
        return 0
    which = f" with reason {', '.join(reasons)}" if reasons else ""
    print(f"{len(shown)} dead letter(s){which} in {target.dlq_url}")
    print(f"by reason: {_by_reason(letters)}")
    if shown:
        common.console().print(_letters_table(shown))
    return 0


def _letters_table(letters: list[DeadLetter]) -> Table:
    """One row a dead letter; the raw fields (message id, first seen, body) are in --json."""
    table = Table(pad_edge=False)
    table.add_column("order", overflow="fold", min_width=12)
    table.add_column("reason", overflow="fold")
    table.add_column("dead-lettered", no_wrap=True)
    table.add_column("tries", justify="right")
    table.add_column("last status", overflow="fold")
    table.add_column("detail", overflow="fold", ratio=1)
    for d in letters:
        reason = d.reason or "none (maxReceiveCount)"
        cells = (
            d.order_id or "-",
            f"{reason} (poison)" if d.is_poison else reason,
            _when(d.sent_timestamp_ms),
            d.attempts or "-",
            d.last_status or "-",
            f"{d.detail or '-'} [body {len(d.body.encode())} bytes]",
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: untrusted, never markup
    return table


# --- redrive ---------------------------------------------------------------------------------


@dataclass
class Selection:
    """Which dead letters a redrive moves; poison only when asked for."""

    everything: bool
    order_ids: frozenset[str]
    reasons: frozenset[str]
    include_poison: bool = False
    skipped_poison: list[DeadLetter] = field(default_factory=list)

    @property
    def whole_queue(self) -> bool:
        return self.everything and not self.order_ids and not self.reasons

    def __call__(self, letter: DeadLetter) -> bool:
        if self.order_ids and letter.order_id not in self.order_ids:
            return False
        if self.reasons and letter.reason_key not in self.reasons:
            return False
        if letter.is_poison and not self.include_poison:
            self.skipped_poison.append(letter)
            return False
        return True


def run_redrive(
    target: Target,
    selection: Selection,
    *,
    wait: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    sqs = target.client("sqs")
    if selection.whole_queue and not target.is_local:
        if selection.include_poison or not _poison_in_dlq(target):
            return _start_move_task(target, wait=wait, sleep=sleep)
        print(
            "the DLQ holds poison, which a move task would redrive too: moving the other "
            "messages one by one"
        )
    elif selection.whole_queue:
        print("local stack: moto has no StartMessageMoveTask; moving messages one by one")
    if wait:
        print("--wait: no move task to follow; the messages are moved before this returns")
    with scan_progress("redriving", _scan_total(target)) as progress:
        result = dead_letters.redrive(
            sqs, target.dlq_url, target.orders_queue_url, selection, SCAN_LIMIT, progress=progress
        )
    return _report_redrive(result, selection)


def _report_redrive(result: dead_letters.RedriveResult, selection: Selection) -> int:
    """Print what moved and what did not; the exit code."""
    moved_ids = sorted({d.order_id or d.message_id for d in result.moved})
    print(f"redrove {len(result.moved)} message(s): {', '.join(moved_ids) or '-'}")
    print(f"left {result.kept} other message(s) in the DLQ")
    code = 0
    if result.failed:
        print(f"could not copy {len(result.failed)} message(s); they stay in the DLQ")
        code = 1
    if selection.skipped_poison:
        print(
            f"skipped poison: {_by_reason(selection.skipped_poison)}; "
            "--include-poison redrives it, `dlq purge --reason REASON --yes` deletes it"
        )
    if selection.order_ids:
        missing = sorted(selection.order_ids - {d.order_id for d in result.moved})
        poison = {d.order_id for d in selection.skipped_poison}
        absent = [m for m in missing if m not in poison]
        if absent:
            print(f"not found in the DLQ: {', '.join(absent)}")
        if len(absent) < len(missing):
            print(f"poison, not redriven: {', '.join(m for m in missing if m in poison)}")
        if missing:
            code = 1
    return code


def _poison_in_dlq(target: Target) -> bool:
    """Scan the whole DLQ (nothing moved) for poison, which a move task would redrive too."""
    with scan_progress("checking the DLQ for poison", _scan_total(target)) as progress:
        letters = dead_letters.peek(
            target.client("sqs"), target.dlq_url, limit=SCAN_LIMIT, progress=progress
        )
    return any(d.is_poison for d in letters)


def _start_move_task(target: Target, *, wait: bool, sleep: Callable[[float], None]) -> int:
    sqs = target.client("sqs")
    source = target.queue_arn(target.dlq_url)
    handle = move_tasks.start(sqs, source, target.queue_arn(target.orders_queue_url))
    print(f"started message move task {handle} (DLQ -> orders queue)")
    if not wait:
        print(f"follow it with `{common.PROG} --env {target.name} dlq tasks`, or with")
        print(f"  aws sqs list-message-move-tasks --source-arn {source}")
        return 0
    try:
        task = follow_move_task(sqs, source, handle, sleep=sleep)
    except KeyboardInterrupt:
        print("stopped following: the task goes on (see `dlq tasks`; cancel it in the console)")
        return 130
    if task is None:
        print("lost sight of the task in ListMessageMoveTasks: see `dlq tasks`")
        return 1
    print(f"move task {task.status}: {task.moved} message(s) moved")
    if task.status != "COMPLETED":
        print(f"  {task.failure_reason or 'no reason given'}")
        return 1
    return 0


def _task_line(task: move_tasks.MoveTask) -> str:
    total = "?" if task.to_move is None else str(task.to_move)
    return f"move task {task.status}: {task.moved} of {total} moved"


def follow_move_task(
    sqs: object, source_arn: str, handle: str, *, sleep: Callable[[float], None] = time.sleep
) -> move_tasks.MoveTask | None:
    """move_tasks.follow with a progress bar on a terminal, else a line per change."""
    out = common.progress_console()
    if not out.is_terminal:
        return move_tasks.follow(sqs, source_arn, handle, lambda t: print(_task_line(t)), sleep)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=out, transient=True) as bar:
        shown = bar.add_task("move task STARTING", total=None)

        def update(task: move_tasks.MoveTask) -> None:
            bar.update(
                shown,
                description=f"move task {task.status}",
                completed=task.moved,
                total=task.to_move,
            )

        return move_tasks.follow(sqs, source_arn, handle, update, sleep)


# --- purge -----------------------------------------------------------------------------------


def run_purge(target: Target, reasons: frozenset[str], *, as_json: bool = False) -> int:
    with scan_progress("purging", _scan_total(target)) as progress:
        result = dead_letters.purge(
            target.client("sqs"),
            target.dlq_url,
            lambda d: d.reason_key in reasons,
            SCAN_LIMIT,
            progress=progress,
        )
    summary = f"deleted {len(result.deleted)} dead letter(s)"
    if result.deleted:
        summary += f" ({_by_reason(result.deleted)})"
    if as_json:
        for letter in result.deleted:
            print(json.dumps(letter.summary(), sort_keys=True))
        common.progress_console().print(Text(summary))
        return 0
    if result.deleted:
        common.console().print(_letters_table(result.deleted))
    print(summary)
    print(f"left {result.kept} other message(s) in the DLQ")
    return 0


# --- tasks -----------------------------------------------------------------------------------


def run_tasks(target: Target, *, as_json: bool = False) -> int:
    if target.is_local:
        print("the local stack has no message move tasks (moto does not implement them)")
        return 0
    found = move_tasks.recent(target.client("sqs"), target.queue_arn(target.dlq_url))
    if as_json:
        for task in found:
            print(json.dumps(task.__dict__, sort_keys=True))
        return 0
    if not found:
        print("no message move task on the DLQ")
        return 0
    table = Table(pad_edge=False)
    for column in ("started", "status", "moved", "to move", "handle / failure"):
        table.add_column(column, overflow="fold")
    for task in found:
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    _when(task.started_ms),
                    task.status,
                    str(task.moved),
                    "?" if task.to_move is None else str(task.to_move),
                    task.handle or task.failure_reason or "-",
                )
            )
        )
    common.console().print(table)
    return 0
