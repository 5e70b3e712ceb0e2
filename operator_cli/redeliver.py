"""`redeliver`: send a terminal order's webhook again, exactly as the relay sent it.

The codes are re-read from FoxReload (`GET /api/orders/{id}` through the relay's own
`FoxReloadClient`: they are never stored), the body is built by the relay's own `signed_request`
with the order's stored first terminal sight as `occurred_at` and its stored storefront_ref, so it
is byte for byte the body of every earlier attempt under the same `webhook-id` /
`Idempotency-Key`; only the signature timestamps are new. The attempt is logged in the order's
attempt log with actor `operator`.

An order without a recorded outcome is delivered under the relay's own lease (claim, send,
record the outcome or give the lease back), so it never races a poller; an order already
delivered is only sent again (the storefront dedups on the key) and the attempt logged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields

import httpx

from relay.adapters.foxreload_client import FoxReloadClient
from relay.adapters.ledger import (
    ClaimRequest,
    ClaimStatus,
    LedgerTable,
    OrderRecord,
    OutcomeRequest,
    ReleaseRequest,
    TerminalSight,
)
from relay.adapters.webhook_sink import SinkResult, WebhookSink
from relay.domain.attempt_log import Actor, Attempt, appended, new_attempt
from relay.domain.events import CHARGED_EVENTS, Event, for_kind
from relay.domain.foxreload_order import FoxOrder
from relay.domain.poll_outcome import HttpReply, TransportFailure, classify, for_order
from relay.domain.webhook import SinkVerdict, WebhookSecretError, signed_request, signing_keys
from relay.settings import PollerSettings

_DEFAULTS = {f.name: f.default for f in fields(PollerSettings)}
# The relay's own default bounds: the send ends well inside the lease it holds.
WEBHOOK_TIMEOUT_SECONDS = float(_DEFAULTS["webhook_timeout"])  # type: ignore[arg-type]
LEASE_SECONDS = float(_DEFAULTS["lease_seconds"])  # type: ignore[arg-type]
_LOG_RETRIES = 3


class Refusal(Exception):
    """The order cannot be redelivered; the message says why (one sentence)."""


@dataclass(frozen=True)
class Redelivery:
    order_id: str
    event: str
    idempotency_key: str
    attempt: Attempt
    verdict: SinkVerdict
    outcome_recorded: bool  # the order had no outcome; this attempt's acceptance recorded it
    body: bytes  # what was sent (never printed: it holds the codes)


def check_ledger(record: OrderRecord | None, order_id: str, now: float) -> OrderRecord:
    """Refuse what the ledger already says cannot be redelivered (no FoxReload request)."""
    if record is None:
        raise Refusal(
            f"{order_id}: the relay never accepted this order (no ledger item), so it has "
            "nothing to redeliver; `enqueue` it if the storefront sold it"
        )
    if record.terminal_seen_at is None:
        raise Refusal(
            f"{order_id}: not terminal: the relay has not seen it completed, failed or "
            "cancelled yet (it delivers it by itself when it does)"
        )
    if record.outcome is None and record.lease_until is not None and record.lease_until > now:
        raise Refusal(
            f"{order_id}: a delivery is in progress (lease held for "
            f"{record.lease_until - now:.0f} s more): look again with `show` after it"
        )
    return record


def terminal_order(
    reply: HttpReply | TransportFailure, order_id: str, now: float, record: OrderRecord
) -> tuple[FoxOrder, Event]:
    """The order and its event, if FoxReload says it is terminal (and the same as recorded)."""
    outcome = for_order(classify(reply, now), order_id)
    if not outcome.terminal or outcome.order is None:
        if outcome.order is not None:
            why = f"FoxReload says it is {outcome.order.status!r}"
        elif isinstance(reply, HttpReply):
            why = f"FoxReload answered HTTP {reply.status_code} ({outcome.status})"
        else:
            why = f"FoxReload gave no usable answer ({reply.value})"
        raise Refusal(f"{order_id}: not terminal: {why}; nothing to redeliver")
    row = for_kind(outcome.kind)
    assert row is not None  # a terminal outcome has a row (tests/unit/domain/test_events.py)
    event = row.event
    if record.outcome_event is not None and record.outcome_event != event:
        raise Refusal(
            f"{order_id}: the ledger recorded {record.outcome_event} but FoxReload now says "
            f"{outcome.order.status!r}: not sent (the body would not be the one delivered)"
        )
    return outcome.order, event


async def redeliver(
    ledger: LedgerTable,
    foxreload: FoxReloadClient,
    sink: WebhookSink,
    secret: str,
    order_id: str,
    clock: Callable[[], float] = time.time,
) -> Redelivery:
    """Redeliver one order (raises Refusal with the reason when it cannot)."""
    try:
        signing_keys(secret)
    except WebhookSecretError as exc:
        raise Refusal(f"the webhook secret's value is malformed ({exc}); nothing sent") from None
    record = check_ledger(await asyncio.to_thread(ledger.get, order_id), order_id, clock())
    reply = await foxreload.get_order(order_id)
    order, event = terminal_order(reply, order_id, clock(), record)
    assert record.terminal_seen_at is not None  # check_ledger
    owner: str | None = None
    log = record.attempt_log
    if record.outcome is None:
        owner = f"operator-{uuid.uuid4().hex}"
        sight = TerminalSight(
            seen_at=record.terminal_seen_at,
            total_price=order.total_price,
            charged=event in CHARGED_EVENTS,
        )
        lease = ClaimRequest(
            order_id=order_id, owner=owner, now=clock(), lease_seconds=LEASE_SECONDS, sight=sight
        )
        claim = await asyncio.to_thread(ledger.claim, lease)
        if claim.status is ClaimStatus.BUSY:
            raise Refusal(f"{order_id}: a delivery is in progress: look again with `show`")
        if claim.status is not ClaimStatus.CLAIMED:
            raise Refusal(f"{order_id}: the ledger changed meanwhile ({claim.status.value}): retry")
        log = claim.attempt_log
    sent_at = clock()
    request = signed_request(
        secret, order, event, record.storefront_ref, sent_at, record.terminal_seen_at
    )
    try:
        sent = await sink.send(request, budget_seconds=WEBHOOK_TIMEOUT_SECONDS)
    except BaseException:
        if owner is not None:
            release = ReleaseRequest(order_id=order_id, owner=owner)
            await asyncio.shield(asyncio.to_thread(ledger.release, release))
        raise
    attempt = _attempt(log, sent_at, sent)
    recorded = False
    if owner is not None:
        attempts = appended(log, attempt)
        if sent.verdict is SinkVerdict.ACCEPTED:
            outcome = OutcomeRequest(
                order_id=order_id,
                owner=owner,
                event=event,
                now=clock(),
                total_price=order.total_price,
                cancel_reason=order.cancel_reason,
                last_status=order.status,
                attempts=attempts,
            )
            recorded = await asyncio.to_thread(ledger.mark_terminal, outcome)
        else:
            release = ReleaseRequest(order_id=order_id, owner=owner, attempts=attempts)
            await asyncio.to_thread(ledger.release, release)
    else:
        attempt = await asyncio.to_thread(_log_without_lease, ledger, order_id, log, sent_at, sent)
    return Redelivery(
        order_id=order_id,
        event=event,
        idempotency_key=request.idempotency_key,
        attempt=attempt,
        verdict=sent.verdict,
        outcome_recorded=recorded,
        body=request.body,
    )


def _attempt(log: tuple[Attempt, ...], sent_at: float, sent: SinkResult) -> Attempt:
    return new_attempt(
        log,
        at=sent_at,
        actor=Actor.OPERATOR,
        status_code=sent.status_code,
        failure=sent.failure,
        latency_seconds=sent.latency_seconds,
    )


def _log_without_lease(
    ledger: LedgerTable, order_id: str, log: tuple[Attempt, ...], sent_at: float, sent: SinkResult
) -> Attempt:
    """Append the attempt to the log of an order already delivered: conditional on nobody
    having logged another attempt since it was read (else read again and retry)."""
    for _ in range(_LOG_RETRIES):
        attempt = _attempt(log, sent_at, sent)
        after = max((a.number for a in log), default=None)
        if ledger.record_attempts(order_id, appended(log, attempt), after):
            return attempt
        record = ledger.get(order_id)
        log = record.attempt_log if record is not None else ()
    return attempt  # sent all the same; only its log entry was lost to concurrent writers


async def redeliver_all(
    ledger: LedgerTable,
    base_url: str,
    api_key: str,
    webhook_url: str,
    secret: str,
    order_ids: list[str],
    report: Callable[[str, Redelivery | Refusal], None],
) -> int:
    """Redeliver each order in turn; `report` is told each result. The exit code: 0 if every
    order was sent and accepted, 1 otherwise."""
    code = 0
    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as http:
        foxreload = FoxReloadClient(base_url, lambda: api_key, lambda: None, lambda: http)
        sink = WebhookSink(webhook_url, lambda: http)
        for order_id in order_ids:
            try:
                done = await redeliver(ledger, foxreload, sink, secret, order_id)
            except Refusal as refusal:
                report(order_id, refusal)
                code = 1
                continue
            report(order_id, done)
            if done.verdict is not SinkVerdict.ACCEPTED:
                code = 1
    return code
