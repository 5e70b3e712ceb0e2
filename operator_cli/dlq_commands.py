"""`dlq list` and `dlq redrive`."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from operator_cli import dead_letters
from operator_cli.target import Target
from relay.domain.order_message import canonical_order_id


def register(subparsers: Any) -> None:
    dlq = subparsers.add_parser("dlq", help="inspect and redrive the dead-letter queue")
    commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    listing = commands.add_parser(
        "list", help="list dead letters with their reasons (nothing is removed)"
    )
    listing.add_argument("--max", type=int, default=1000, help="look at most at this many messages")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=run_list)

    redrive = commands.add_parser(
        "redrive", help="move dead letters back to the orders queue (all, or by order id)"
    )
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--all", action="store_true", help="the whole DLQ (StartMessageMoveTask on AWS)"
    )
    which.add_argument(
        "order_ids",
        nargs="*",
        default=[],
        metavar="ORDER_ID",
        type=canonical_order_id,  # UUIDs in any case, as the relay keys them
        help="only these orders",
    )
    redrive.set_defaults(func=run_redrive)


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


def run_list(args: argparse.Namespace, target: Target) -> int:
    letters = dead_letters.peek(target.client("sqs"), target.dlq_url, limit=args.max)
    if args.json:
        for letter in letters:
            print(json.dumps(letter.summary(), sort_keys=True))
        return 0
    if not letters:
        print("DLQ is empty")
        return 0
    print(f"{len(letters)} dead letter(s) in {target.dlq_url}")
    for d in letters:
        reason = d.reason or "(no relay reason: moved by the queue's maxReceiveCount)"
        print(f"- order {d.order_id or '?'}  reason={reason}  sent={_when(d.sent_timestamp_ms)}")
        if d.detail:
            print(f"    detail: {d.detail}")
        extras = {
            "attempts": d.attempts,
            "last_status": d.last_status,
            "first_seen": _epoch_text(d.first_seen),
        }
        shown = "  ".join(f"{k}={v}" for k, v in extras.items() if v)
        if shown:
            print(f"    {shown}")
        print(f"    message {d.message_id}  body {len(d.body.encode())} bytes")
    return 0


def run_redrive(args: argparse.Namespace, target: Target) -> int:
    sqs = target.client("sqs")
    if args.all and not target.is_local:
        task = sqs.start_message_move_task(
            SourceArn=target.queue_arn(target.dlq_url),
            DestinationArn=target.queue_arn(target.orders_queue_url),
        )
        print(f"started message move task {task['TaskHandle']} (DLQ -> orders queue)")
        print("follow it in the SQS console, or with")
        print(f"  aws sqs list-message-move-tasks --source-arn {target.queue_arn(target.dlq_url)}")
        return 0
    if args.all:
        print("local stack: moto has no StartMessageMoveTask; moving messages one by one")
        result = dead_letters.redrive(sqs, target.dlq_url, target.orders_queue_url, lambda _d: True)
    else:
        wanted = set(args.order_ids)
        result = dead_letters.redrive(
            sqs, target.dlq_url, target.orders_queue_url, lambda d: d.order_id in wanted
        )
    moved_ids = sorted({d.order_id or d.message_id for d in result.moved})
    print(f"redrove {len(result.moved)} message(s): {', '.join(moved_ids) or '-'}")
    print(f"left {result.kept} other message(s) in the DLQ")
    if not args.all:
        missing = sorted(set(args.order_ids) - {d.order_id for d in result.moved})
        if missing:
            print(f"not found in the DLQ: {', '.join(missing)}")
            return 1
    return 0
