"""`enqueue ORDER_ID`, `show ORDER_ID | --ref REF` and `redeliver ORDER_ID...`."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from boto3.dynamodb.types import TypeDeserializer

from operator_cli import common
from operator_cli.common import EnvOption, LocalOption, examples, execute, usage_error
from operator_cli.redeliver import Redelivery, Refusal, redeliver_all
from operator_cli.target import Target, TargetError
from relay.adapters.ledger import LedgerTable, attempts_of
from relay.domain.attempt_log import Attempt
from relay.domain.foxreload_order import MalformedOrder, parse_order
from relay.domain.order_message import canonical_order_id, is_valid_order_id
from relay.names import Ledger

# The order message's storefront_ref (README, contract 1) is at most 256 characters; an empty
# one is never in the storefront_ref index.
MAX_STOREFRONT_REF_LENGTH = 256
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
            "show --ref shop-10042 --env prod",
        )
    )
    def show(
        ctx: typer.Context,
        order_id: Annotated[
            str | None,
            typer.Argument(
                metavar="ORDER_ID",
                callback=_optional_order_id,
                help="FoxReload order id (UUIDs in any case).",
                show_default=False,
            ),
        ] = None,
        ref: Annotated[
            str | None,
            typer.Option(
                "--ref",
                metavar="STOREFRONT_REF",
                callback=_storefront_ref,
                help="Find the orders by the storefront's reference instead (storefront_ref).",
                show_default=False,
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object (a line per order).")
        ] = False,
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """Ledger state, attempt log and live FoxReload status of an order (never its codes)."""
        if (order_id is None) == (ref is None):
            usage_error(ctx, "give either ORDER_ID or --ref STOREFRONT_REF")
        if ref is not None:
            execute(ctx, env, local, lambda target: run_show_ref(target, ref, as_json=as_json))
        assert order_id is not None
        execute(ctx, env, local, lambda target: run_show(target, order_id, as_json=as_json))

    @app.command(
        epilog=examples(
            "--env prod redeliver 3f2b8c1e-9a4d-4c7b-8e21-5d6f7a8b9c0d",
            "redeliver shop-order-7 shop-order-8 --local /tmp/relay-state.json",
        )
    )
    def redeliver(
        ctx: typer.Context,
        order_ids: Annotated[
            list[str],
            typer.Argument(
                metavar="ORDER_ID",
                callback=common.order_ids,
                help="FoxReload order ids (UUIDs in any case) of terminal orders.",
                show_default=False,
            ),
        ],
        env: EnvOption = None,
        local: LocalOption = None,
    ) -> None:
        """Send a terminal order's webhook again: same webhook-id / Idempotency-Key, same body
        (codes re-read from FoxReload), logged with actor operator. Refuses orders that are not
        terminal, saying why."""
        unique = list(dict.fromkeys(order_ids))
        execute(ctx, env, local, lambda target: run_redeliver(target, unique))


def _optional_order_id(value: str | None) -> str | None:
    return None if value is None else common.order_id(value)


def _storefront_ref(value: str | None) -> str | None:
    """As the order message's contract says: a string of 1 to 256 characters."""
    if value is not None and not 0 < len(value) <= MAX_STOREFRONT_REF_LENGTH:
        raise typer.BadParameter(
            f"a storefront_ref is 1-{MAX_STOREFRONT_REF_LENGTH} characters (got {len(value)})"
        )
    return value


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
        if name == Ledger.ATTEMPT_LOG:
            out[name] = [_attempt_json(a) for a in attempts_of(item)]
            continue
        plain = deserializer.deserialize(value)
        if name in _EPOCH_FIELDS and plain is not None:
            plain = datetime.fromtimestamp(float(plain), UTC).isoformat().replace("+00:00", "Z")
        elif hasattr(plain, "as_integer_ratio"):
            plain = float(plain) if plain % 1 else int(plain)
        out[name] = plain
    return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "n": attempt.number,
        "at": _iso(attempt.at),
        "actor": attempt.actor,
        "status": attempt.status_code,
        "failure": attempt.failure,
        "latency_ms": attempt.latency_ms,
    }


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
    if record is not None:
        _print_ledger(record)
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


def _print_ledger(record: dict[str, Any]) -> None:
    """The ledger item's attributes, then its attempt log (newest last)."""
    for name, value in record.items():
        if name != Ledger.ATTEMPT_LOG:
            print(f"    {name}: {value}")
    attempts = record.get(Ledger.ATTEMPT_LOG) or []
    print("  webhook attempts (newest last):" + ("" if attempts else "  none yet"))
    for a in attempts:
        answer = f"HTTP {a['status']}" if a["status"] is not None else a["failure"]
        print(f"    #{a['n']} {a['at']} {a['actor']}: {answer} in {a['latency_ms']} ms")


def run_show_ref(target: Target, ref: str, *, as_json: bool = False) -> int:
    """Every order whose message carried this storefront_ref (the by-storefront-ref index)."""
    ledger = LedgerTable(target.client("dynamodb"), target.ledger_table)
    order_ids = ledger.order_ids_for_ref(ref)
    if not order_ids:
        message = f"no order with storefront_ref {ref!r} in the ledger"
        if as_json:
            print(json.dumps({"storefront_ref": ref, "orders": []}))
        else:
            print(message + " (the relay has not received a message carrying it)")
        return 1
    if not as_json:
        print(f"storefront_ref {ref!r}: {len(order_ids)} order(s)")
    for order_id in order_ids:
        run_show(target, order_id, as_json=as_json)
    return 0


def run_redeliver(target: Target, order_ids: list[str]) -> int:
    if not target.webhook_url or not target.webhook_secret:
        raise TargetError(f"{target.kind} target {target.name!r} has no storefront webhook URL")
    ledger = LedgerTable(target.client("dynamodb"), target.ledger_table)

    def report(order_id: str, result: Redelivery | Refusal) -> None:
        if isinstance(result, Refusal):
            print(f"order {order_id}: refused: {result}")
            return
        a = result.attempt
        tail = "; outcome recorded" if result.outcome_recorded else ""
        print(
            f"order {order_id}: sent {result.event} (webhook-id {result.idempotency_key}): "
            f"{a.answer} in {a.latency_ms} ms, {result.verdict.value} "
            f"(attempt #{a.number}, actor {a.actor}){tail}"
        )

    return asyncio.run(
        redeliver_all(
            ledger,
            target.foxreload_base_url,
            target.api_key(),
            target.webhook_url,
            target.webhook_secret_value(),
            order_ids,
            report,
        )
    )
