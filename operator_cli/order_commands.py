"""`enqueue ORDER_ID` and `show ORDER_ID`."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from boto3.dynamodb.types import TypeDeserializer

from operator_cli.target import Target
from relay.domain.foxreload_order import MalformedOrder, parse_order
from relay.domain.order_message import canonical_order_id, is_valid_order_id
from relay.names import Ledger

_EPOCH_FIELDS = {
    Ledger.ACCEPTED_AT,
    Ledger.LEASE_UNTIL,
    Ledger.OUTCOME_AT,
    Ledger.TERMINAL_SEEN_AT,
    Ledger.DEAD_LETTERED_AT,
    Ledger.TTL_ATTRIBUTE,
}


def register(subparsers: Any) -> None:
    enqueue = subparsers.add_parser("enqueue", help="send an order message, as a storefront does")
    enqueue.add_argument("order_id", metavar="ORDER_ID")
    enqueue.add_argument("--ref", help="storefront_ref to carry to the webhook")
    enqueue.set_defaults(func=run_enqueue)

    show = subparsers.add_parser("show", help="ledger state and live FoxReload status of one order")
    show.add_argument("order_id", metavar="ORDER_ID", type=canonical_order_id)
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=run_show)


def order_message_body(order_id: str, ref: str | None) -> str:
    body: dict[str, Any] = {"v": 1, "order_id": order_id}
    if ref is not None:
        body["storefront_ref"] = ref
    return json.dumps(body, separators=(",", ":"))


def run_enqueue(args: argparse.Namespace, target: Target) -> int:
    if not is_valid_order_id(args.order_id):
        print("error: ORDER_ID must be a UUID or 1-64 of [A-Za-z0-9_-]")
        return 2
    sent = target.client("sqs").send_message(
        QueueUrl=target.orders_queue_url, MessageBody=order_message_body(args.order_id, args.ref)
    )
    print(f"enqueued order {args.order_id} as message {sent['MessageId']}")
    return 0


def ledger_record(target: Target, order_id: str) -> dict[str, Any] | None:
    item = (
        target.client("dynamodb")
        .get_item(
            TableName=target.ledger_table,
            Key={Ledger.PARTITION_KEY: {"S": order_id}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if item is None:
        return None
    deserializer = TypeDeserializer()
    out: dict[str, Any] = {}
    for name, value in sorted(item.items()):
        plain = deserializer.deserialize(value)
        if name in _EPOCH_FIELDS and plain is not None:
            plain = datetime.fromtimestamp(float(plain), UTC).isoformat().replace("+00:00", "Z")
        elif hasattr(plain, "as_integer_ratio"):
            plain = float(plain) if plain % 1 else int(plain)
        out[name] = plain
    return out


def live_status(target: Target, order_id: str) -> dict[str, Any]:
    """FoxReload's view of the order, reduced to what is safe to print: never the codes."""
    url = f"{target.foxreload_base_url.rstrip('/')}/api/orders/{order_id}"
    try:
        response = httpx.get(url, headers={"X-API-Key": target.api_key()}, timeout=10.0)
    except httpx.HTTPError as exc:
        return {"error": f"FoxReload unreachable: {exc.__class__.__name__}"}
    if response.status_code != 200:
        out: dict[str, Any] = {"error": f"HTTP {response.status_code}"}
        if "Retry-After" in response.headers:
            out["retry_after"] = response.headers["Retry-After"]
        if b"BalanceNotEnough" in response.content:
            out["balance_signal"] = "BalanceNotEnough"
        return out
    try:
        order = response.json()
    except ValueError:
        return {"error": "FoxReload answered with malformed JSON"}
    if not isinstance(order, dict):
        return {"error": "FoxReload answered with a non-object"}
    items = order.get("items") if isinstance(order.get("items"), list) else []
    try:
        signal = parse_order(order).balance_signal(time.time())
    except MalformedOrder:
        signal = None
    return {
        "balance_signal": signal,
        "status": order.get("status"),
        "createdAt": order.get("createdAt"),
        "paymentExpiresAt": order.get("paymentExpiresAt"),
        "cancelReason": order.get("cancelReason"),
        "totalPrice": order.get("totalPrice"),
        "items": [
            {
                "item_id": item.get("itemId", item.get("id")),
                "codes": len(item.get("externalData") or []),  # a count, never the codes
                "error": item.get("error"),
            }
            for item in items
            if isinstance(item, dict)
        ],
    }


def run_show(args: argparse.Namespace, target: Target) -> int:
    if not is_valid_order_id(args.order_id):
        print("error: ORDER_ID must be a UUID or 1-64 of [A-Za-z0-9_-]")
        return 2
    record = ledger_record(target, args.order_id)
    live = live_status(target, args.order_id)
    if args.json:
        print(
            json.dumps(
                {"order_id": args.order_id, "ledger": record, "foxreload": live}, default=str
            )
        )
        return 0
    print(f"order {args.order_id}")
    print(
        "  ledger:" + ("  (no record: the relay has not seen this order)" if record is None else "")
    )
    for name, value in (record or {}).items():
        print(f"    {name}: {value}")
    print("  FoxReload (live):")
    if live.get("balance_signal"):
        print(
            f"    BALANCE SIGNAL: {live['balance_signal']} "
            "(FoxReload could not take the money: see the runbook's BalanceFailureSignals)"
        )
    if "error" in live:
        print(f"    {live['error']}")
        return 0
    for name in ("status", "createdAt", "paymentExpiresAt", "cancelReason", "totalPrice"):
        if live.get(name) is not None:
            print(f"    {name}: {live[name]}")
    for item in live["items"]:
        error = f", error: {item['error']}" if item["error"] else ""
        print(f"    item {item['item_id']}: {item['codes']} code(s){error}")
    return 0
