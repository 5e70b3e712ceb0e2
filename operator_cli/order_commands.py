"""`enqueue ORDER_ID` and `show ORDER_ID`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from boto3.dynamodb.types import TypeDeserializer

from operator_cli import common
from operator_cli.common import EnvOption, LocalOption, examples, execute
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


def register(app: typer.Typer) -> None:
    @app.command(
        epilog=examples(
            "--env prod enqueue 3f2b8c1e-9a4d-4c7b-8e21-5d6f7a8b9c0d --ref shop-10042",
            "enqueue shop-order-7 --local /tmp/relay-state.json",
        )
    )
    def enqueue(
        ctx: typer.Context,
        order_id: Annotated[
            str,
            typer.Argument(
                metavar="ORDER_ID",
                callback=_valid_as_typed,
                help="FoxReload order id: a UUID or 1-64 of [A-Za-z0-9_-].",
                show_default=False,
            ),
        ],
        ref: Annotated[
            str | None, typer.Option("--ref", help="storefront_ref to carry to the webhook.")
        ] = None,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """Send an order message (v1) to the orders queue, as a storefront does."""
        execute(ctx, env, local, lambda target: run_enqueue(target, order_id, ref))

    @app.command(
        epilog=examples(
            "--env prod show 3f2b8c1e-9a4d-4c7b-8e21-5d6f7a8b9c0d",
            "show shop-order-7 --json --env prod",
        )
    )
    def show(
        ctx: typer.Context,
        order_id: Annotated[
            str,
            typer.Argument(
                metavar="ORDER_ID",
                callback=common.order_id,
                help="FoxReload order id (UUIDs in any case).",
                show_default=False,
            ),
        ],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """Ledger state and live FoxReload status of one order (never its codes)."""
        execute(ctx, env, local, lambda target: run_show(target, order_id, as_json=as_json))


def _valid_as_typed(value: str) -> str:
    """Validated, but sent as typed: the relay itself canonicalises the id it reads."""
    common.order_id(value)
    return value


def order_message_body(order_id: str, ref: str | None) -> str:
    body: dict[str, Any] = {"v": 1, "order_id": order_id}
    if ref is not None:
        body["storefront_ref"] = ref
    return json.dumps(body, separators=(",", ":"))


def run_enqueue(target: Target, order_id: str, ref: str | None) -> int:
    if not is_valid_order_id(order_id):
        print("error: invalid order id: ORDER_ID must be a UUID or 1-64 of [A-Za-z0-9_-]")
        return 2
    sent = target.client("sqs").send_message(
        QueueUrl=target.orders_queue_url, MessageBody=order_message_body(order_id, ref)
    )
    print(f"enqueued order {order_id} as message {sent['MessageId']}")
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


def run_show(target: Target, order_id: str, *, as_json: bool = False) -> int:
    if not is_valid_order_id(order_id):
        print("error: invalid order id: ORDER_ID must be a UUID or 1-64 of [A-Za-z0-9_-]")
        return 2
    order_id = canonical_order_id(order_id)
    record = ledger_record(target, order_id)
    live = live_status(target, order_id)
    if as_json:
        print(json.dumps({"order_id": order_id, "ledger": record, "foxreload": live}, default=str))
        return 0
    print(f"order {order_id}")
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
