"""`balance record AMOUNT`, `balance topup AMOUNT`, `balance show`: the operator's balance records.

FoxReload documents no balance read, so the balance monitor estimates: the last balance an operator
recorded (from the FoxReload dashboard), plus top-ups recorded since, minus the order spend the
poller recorded since. Records are stored durably in the ledger table under '#balance' keys
(relay.adapters.balance_store); `show` prints the same estimate the monitor publishes.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from operator_cli.target import Target
from relay.adapters.balance_store import BalanceStore
from relay.adapters.spend_index import SpendIndex
from relay.domain.balance import BalanceRecord, RecordKind
from relay.names import AlarmThreshold
from relay.service.monitors import check_balance
from stacks.config import environment_config

_MAX_DIGITS = 20


def register(subparsers: Any) -> None:
    balance = subparsers.add_parser(
        "balance", help="record the FoxReload balance or a top-up; show the estimate"
    )
    commands = balance.add_subparsers(dest="balance_command", required=True, metavar="ACTION")

    record = commands.add_parser(
        "record", help="record the balance FoxReload shows now (resets the estimate's basis)"
    )
    record.add_argument("amount", metavar="AMOUNT", type=_amount)
    record.add_argument("--note", help="free text kept with the record (who, where it was read)")
    record.set_defaults(func=run_record, kind=RecordKind.BALANCE)

    topup = commands.add_parser("topup", help="record a top-up just made (adds to the estimate)")
    topup.add_argument("amount", metavar="AMOUNT", type=_amount)
    topup.add_argument("--note", help="free text kept with the record (e.g. the transaction id)")
    topup.set_defaults(func=run_record, kind=RecordKind.TOPUP)

    show = commands.add_parser("show", help="the current estimate, 24 h spend, runway, records")
    show.add_argument("--history", action="store_true", help="list every record ever stored")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=run_show)


def _amount(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not value.is_finite() or value < 0 or len(value.as_tuple().digits) > _MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a valid non-negative amount")
    return value


def run_record(args: argparse.Namespace, target: Target) -> int:
    store = BalanceStore(target.client("dynamodb"), target.ledger_table)
    try:
        record, basis = store.record(args.kind, args.amount, note=args.note)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    what = "balance" if record.kind is RecordKind.BALANCE else "top-up"
    print(f"recorded {what} {record.amount} at {_when(record.recorded_at)} (id {record.record_id})")
    print(f"estimate basis: {basis.amount} as of {_when(basis.since)}, minus spend since then")
    return 0


def run_show(args: argparse.Namespace, target: Target) -> int:
    ddb = target.client("dynamodb")
    store = BalanceStore(ddb, target.ledger_table)
    state = store.state()
    # Read-only: this machine's clock is not trusted to decide that an hour's spend is final.
    spend = SpendIndex(ddb, target.ledger_table, keep_sums=False)
    multiple = _spend_multiple(target)
    check = check_balance(store, spend, time.time(), spend_multiple=multiple)
    records = store.history() if args.history else list(state.recent)
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
    if args.json:
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
