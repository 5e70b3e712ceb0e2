"""`balance record AMOUNT`, `balance topup AMOUNT`, `balance show`: the operator's balance records.

FoxReload documents no balance read, so the balance monitor estimates: the last balance an operator
recorded (from the FoxReload dashboard), plus top-ups recorded since, minus the order spend the
poller recorded since. Records are stored durably in the ledger table under '#balance' keys
(relay.adapters.balance_store); `show` prints the same estimate the monitor publishes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from operator_cli.common import EnvOption, LocalOption, examples, execute, remember_where
from operator_cli.target import Target
from relay.adapters.balance_store import BalanceStore
from relay.adapters.spend_index import SpendIndex
from relay.domain.balance import BalanceRecord, RecordKind
from relay.names import AlarmThreshold
from relay.service.monitors import check_balance
from stacks.config import environment_config

_MAX_DIGITS = 20


def _amount(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise typer.BadParameter(f"{raw!r} is not a number") from None
    if not value.is_finite() or value < 0 or len(value.as_tuple().digits) > _MAX_DIGITS:
        raise typer.BadParameter(f"{raw!r} is not a valid non-negative amount")
    return value


AmountArg = Annotated[
    Decimal,
    typer.Argument(
        metavar="AMOUNT",
        parser=_amount,
        help="A non-negative amount in the account's currency, e.g. 250.00.",
        show_default=False,
    ),
]
NoteOption = Annotated[str | None, typer.Option("--note", help="Free text kept with the record.")]


def register(app: typer.Typer) -> None:
    balance = typer.Typer(
        help="Record the FoxReload balance or a top-up; show the estimate.",
        no_args_is_help=True,
        epilog=examples("--env prod balance show", "balance record 250.00 --env prod"),
    )
    app.add_typer(balance, name="balance")

    @balance.callback()
    def where(ctx: typer.Context, env: EnvOption = None, local: LocalOption = None) -> None:
        remember_where(ctx, env, local)

    @balance.command(epilog=examples('--env prod balance record 250.00 --note "dashboard, alice"'))
    def record(
        ctx: typer.Context,
        amount: AmountArg,
        note: NoteOption = None,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """Record the balance FoxReload shows now (resets the estimate's basis)."""
        execute(ctx, env, local, lambda t: run_record(t, RecordKind.BALANCE, amount, note))

    @balance.command(epilog=examples('--env prod balance topup 500 --note "tx 0xabc123"'))
    def topup(
        ctx: typer.Context,
        amount: AmountArg,
        note: NoteOption = None,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """Record a top-up just made (adds to the estimate)."""
        execute(ctx, env, local, lambda t: run_record(t, RecordKind.TOPUP, amount, note))

    @balance.command(
        epilog=examples("--env prod balance show", "balance show --history --json --env prod")
    )
    def show(
        ctx: typer.Context,
        history: Annotated[
            bool, typer.Option("--history", help="List every record ever stored.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """The current estimate, 24 h spend, runway, the low-balance rule, records."""
        execute(ctx, env, local, lambda t: run_show(t, history=history, as_json=as_json))


def run_record(target: Target, kind: RecordKind, amount: Decimal, note: str | None) -> int:
    store = BalanceStore(target.client("dynamodb"), target.ledger_table)
    try:
        record, basis = store.record(kind, amount, note=note)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    what = "balance" if record.kind is RecordKind.BALANCE else "top-up"
    print(f"recorded {what} {record.amount} at {_when(record.recorded_at)} (id {record.record_id})")
    print(f"estimate basis: {basis.amount} as of {_when(basis.since)}, minus spend since then")
    return 0


def run_show(target: Target, *, history: bool = False, as_json: bool = False) -> int:
    ddb = target.client("dynamodb")
    store = BalanceStore(ddb, target.ledger_table)
    state = store.state()
    # Read-only: this machine's clock is not trusted to decide that an hour's spend is final.
    spend = SpendIndex(ddb, target.ledger_table, keep_sums=False)
    multiple = _spend_multiple(target)
    check = check_balance(store, spend, time.time(), spend_multiple=multiple)
    records = store.history() if history else list(state.recent)
    report = check.report
    summary: dict[str, Any] = {
        "estimated_balance": None if report is None else str(report.balance),
        "spend_24h": str(check.spend_24h),
        "runway_hours": None if report is None else round(report.runway_hours, 1),
        "low": None if report is None else report.low,
        "basis": None
        if state.basis is None
        else {
            "amount": str(state.basis.amount),
            "since": _when(state.basis.since),
            "anchored": state.basis.anchored,
        },
        "records": [_record_json(r) for r in records],
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    _print_summary(summary, check.spend_24h, multiple)
    return 0


def _spend_multiple(target: Target) -> float:
    """The LowBalance alarm's multiple for this environment (cdk.json), else the default 2."""
    try:
        return environment_config(target.name).low_balance_spend_multiple
    except (KeyError, ValueError):
        return float(AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE)


def _print_summary(summary: dict[str, Any], spend_24h: Decimal, multiple: float) -> None:
    if summary["basis"] is None:
        print("no balance recorded yet: run `python -m operator_cli balance record AMOUNT`")
        print(f"spend, last 24 h:   {spend_24h}")
        return
    basis = summary["basis"]
    print(f"estimated balance:  {summary['estimated_balance']}")
    print(f"spend, last 24 h:   {summary['spend_24h']}")
    print(f"runway:             {summary['runway_hours']} h at the last 24 h's rate")
    threshold = Decimal(str(multiple)) * spend_24h
    state = "LOW" if summary["low"] else "ok"
    rule = f"alarm when balance < {threshold} = {multiple:g} x 24 h spend"
    print(f"low-balance rule:   {state} ({rule})")
    origin = "recorded balance" if basis["anchored"] else "top-ups only, from zero"
    print(f"basis:              {basis['amount']} as of {basis['since']} ({origin})")
    if summary["records"]:
        print("records (oldest first):")
        for rec in summary["records"]:
            note = f"  {rec['note']}" if rec["note"] else ""
            print(f"  {rec['recorded_at']}  {rec['kind']:<7} {rec['amount']:>12}{note}")


def _record_json(record: BalanceRecord) -> dict[str, Any]:
    return {
        "kind": record.kind.value,
        "amount": str(record.amount),
        "recorded_at": _when(record.recorded_at),
        "note": record.note,
        "id": record.record_id,
    }


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
