"""One order message, end to end: validate → poll → decide → deliver / reschedule / dead-letter.

The handler builds an `OrderRelay` once per cold start and calls `process` for each record of a
batch concurrently. Blocking AWS calls run in threads so the polls of a batch overlap. Every
decision comes from relay.domain (pure); this module only sequences I/O and counts things.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from relay.adapters.foxreload_client import FoxReloadClient
from relay.adapters.ledger import ClaimStatus, LedgerTable
from relay.adapters.order_queue import DeadLetterReason, OrderQueue
from relay.adapters.webhook_sink import WebhookSink
from relay.domain.decision import (
    DeadLetter,
    Deliver,
    Limits,
    Reschedule,
    Timing,
    decide,
    reschedule_after_delivery_attempt,
)
from relay.domain.foxreload_order import FoxOrder
from relay.domain.order_message import OrderMessage, Poison, parse_order_message
from relay.domain.poll_outcome import Kind, PollOutcome, classify
from relay.domain.schedule import Policy, policy_named
from relay.domain.webhook import SinkVerdict, signed_request
from relay.names import Metric, api_error_metric
from relay.settings import PollerSettings

_EVENT_METRIC = {
    "order.delivered": Metric.ORDERS_DELIVERED,
    "order.failed": Metric.ORDERS_FAILED,
    "order.cancelled": Metric.ORDERS_CANCELLED,
}


@dataclass(frozen=True)
class QueueRecord:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int  # ApproximateReceiveCount
    sent_at: float  # SentTimestamp, epoch seconds: the deadline runs from here


class Rescheduled(Exception):  # an expected outcome, not an error
    """A normal item failure: the message was made invisible for `delay` seconds and comes back."""

    def __init__(self, delay: int, reason: str) -> None:
        super().__init__(f"rescheduled in {delay}s ({reason})")
        self.delay = delay
        self.reason = reason


class LogSink(Protocol):
    def info(self, msg: str, *args: object, stacklevel: int = ...) -> None: ...

    def warning(self, msg: str, *args: object, stacklevel: int = ...) -> None: ...


class MetricsRecorder(Protocol):
    def count(self, name: str, value: float = 1.0) -> None: ...

    def seconds(self, name: str, value: float) -> None: ...


@dataclass
class RelayDeps:
    settings: PollerSettings
    foxreload: FoxReloadClient
    sink: WebhookSink
    ledger: LedgerTable
    queue: OrderQueue
    webhook_secret: Callable[[], str]
    metrics: MetricsRecorder
    log: LogSink
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    new_owner: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    policy: Policy | None = None


class OrderRelay:
    def __init__(self, deps: RelayDeps) -> None:
        self.d = deps
        s = deps.settings
        self.policy = deps.policy or policy_named(
            s.poll_policy, s.poll_base_seconds, s.poll_cap_seconds, s.poll_jitter
        )
        self.limits = Limits(
            give_up_after=s.give_up_after_seconds,
            not_found_grace=s.not_found_grace_seconds,
            auth_failure_delay=s.auth_failure_delay_seconds,
        )
        self.log = deps.log

    async def process(self, record: QueueRecord, received_at: float | None = None) -> str:
        """Returns what happened; raises `Rescheduled` when the message must come back later."""
        received = self.d.clock() if received_at is None else received_at
        parsed = parse_order_message(record.body)
        if isinstance(parsed, Poison):
            return await self._poison(record, parsed, received)
        touched = await asyncio.to_thread(
            self.d.ledger.touch, parsed.order_id, record.sent_at, parsed.storefront_ref, received
        )
        if touched.attempts == 1:
            self.d.metrics.count(Metric.ORDERS_ACCEPTED)
        if touched.outcome is not None:
            self.d.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            self._info("order already %s; message dropped", touched.outcome)
            return "already_done"
        first_seen = touched.accepted_at or record.sent_at
        storefront_ref = parsed.storefront_ref or touched.storefront_ref
        message = OrderMessage(parsed.order_id, storefront_ref, parsed.version)

        reply = await self.d.foxreload.get_order(message.order_id)
        now = self.d.clock()
        outcome = classify(reply, now)
        self._count_poll(outcome, now)
        timing = Timing(
            attempt=max(0, record.receive_count - 1),
            elapsed=now - record.sent_at,
            seconds_since_receive=now - received,
        )
        action = decide(outcome, timing, self.limits, self.policy, self.d.rand())
        if isinstance(action, Deliver):
            assert outcome.order is not None  # a terminal outcome always carries its order
            return await self._deliver(record, message, outcome.order, action.event, timing, now)
        if isinstance(action, DeadLetter):
            return await self._dead_letter(
                record, action, message.order_id, outcome.status, timing, first_seen
            )
        return await self._reschedule(record, action, outcome.status)

    async def _deliver(
        self,
        record: QueueRecord,
        message: OrderMessage,
        order: FoxOrder,
        event: str,
        timing: Timing,
        seen_at: float,
    ) -> str:
        owner = self.d.new_owner()
        claim = await asyncio.to_thread(
            self.d.ledger.claim,
            order.id,
            owner,
            self.d.clock(),
            self.d.settings.lease_seconds,
            seen_at,
            order.total_price,
        )
        if claim.status is ClaimStatus.ALREADY_DONE:
            self.d.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            self._info("order already %s by another worker", claim.outcome)
            return "already_done"
        if claim.status is ClaimStatus.BUSY:
            wait = max(1.0, (claim.lease_until or self.d.clock()) - self.d.clock())
            delay = reschedule_after_delivery_attempt(
                timing, self.limits, self.policy, self.d.rand(), wait, "lease_busy"
            )
            return await self._reschedule(record, delay, order.status)

        request = signed_request(
            await asyncio.to_thread(self.d.webhook_secret),
            order,
            event,
            message.storefront_ref,
            self.d.clock(),
        )
        result = await self.d.sink.send(request)
        if result.verdict is SinkVerdict.ACCEPTED:
            return await self._mark(order, event, owner, claim.terminal_seen_at or seen_at, record)
        await asyncio.to_thread(self.d.ledger.release, order.id, owner)
        if result.verdict is SinkVerdict.REJECTED:
            why = DeadLetter(
                "webhook_rejected",
                f"storefront answered HTTP {result.status_code} to {event}; not retried",
            )
            return await self._dead_letter(
                record, why, order.id, order.status, timing, record.sent_at
            )
        self.d.metrics.count(Metric.WEBHOOK_RETRIES)
        if timing.elapsed >= self.limits.give_up_after:
            why = DeadLetter(
                "webhook_unavailable",
                f"{event} not accepted by the storefront before the deadline "
                f"(last answer {result.status_code or 'none'}); {timing.attempt + 1} attempts",
            )
            return await self._dead_letter(
                record, why, order.id, order.status, timing, record.sent_at
            )
        retry = reschedule_after_delivery_attempt(
            timing, self.limits, self.policy, self.d.rand(), result.retry_after, "webhook_retry"
        )
        return await self._reschedule(record, retry, order.status)

    async def _mark(
        self, order: FoxOrder, event: str, owner: str, seen_at: float, record: QueueRecord
    ) -> str:
        accepted = self.d.clock()
        marked = await asyncio.to_thread(
            self.d.ledger.mark_terminal,
            order.id,
            owner,
            event,
            accepted,
            order.total_price,
            order.cancel_reason,
            order.status,
        )
        if not marked:  # another worker recorded it first; the storefront dedups by key
            self.d.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            self._info("%s sent, but another worker had recorded the outcome", event)
            return "already_done"
        self.d.metrics.count(_EVENT_METRIC[event])
        if event == "order.cancelled" and order.cancel_reason == "payment_failure":
            self.d.metrics.count(Metric.BALANCE_FAILURE_SIGNALS)
        self.d.metrics.seconds(Metric.DELIVERY_LAG_SECONDS, max(0.0, accepted - seen_at))
        self.d.metrics.seconds(Metric.TIME_TO_DELIVER_SECONDS, max(0.0, accepted - record.sent_at))
        self._info(
            "%s accepted by the storefront: %d items, %d codes, lag %.2fs",
            event,
            len(order.items),
            order.code_count,
            accepted - seen_at,
        )
        return event

    async def _reschedule(self, record: QueueRecord, action: Reschedule, status: str | None) -> str:
        await asyncio.to_thread(self.d.queue.reschedule, record.receipt_handle, action.delay)
        self._info(
            "not done (%s, status %s); next look in %ss", action.reason, status or "-", action.delay
        )
        raise Rescheduled(action.delay, action.reason)

    async def _dead_letter(
        self,
        record: QueueRecord,
        action: DeadLetter,
        order_id: str | None,
        last_status: str | None,
        timing: Timing,
        first_seen: float,
    ) -> str:
        why = DeadLetterReason(
            reason=action.reason,
            detail=action.detail,
            attempts=timing.attempt + 1,
            first_seen=first_seen,
            last_status=last_status,
            order_id=order_id,
        )
        await asyncio.to_thread(self.d.queue.dead_letter, record.body, why)
        if order_id is not None:
            await asyncio.to_thread(
                self.d.ledger.record_dead_letter,
                order_id,
                action.reason,
                last_status,
                self.d.clock(),
            )
        self.d.metrics.count(Metric.ORDERS_DEAD_LETTERED)
        self._warn("dead-lettered: %s: %s", action.reason, action.detail)
        return "dead_lettered"

    async def _poison(self, record: QueueRecord, poison: Poison, received: float) -> str:
        self.d.metrics.count(Metric.POISON_MESSAGES)
        timing = Timing(max(0, record.receive_count - 1), received - record.sent_at)
        action = DeadLetter(poison.reason, poison.detail)
        return await self._dead_letter(record, action, None, None, timing, record.sent_at)

    def _count_poll(self, outcome: PollOutcome, now: float) -> None:
        m = self.d.metrics
        m.count(Metric.POLL_ATTEMPTS)
        if outcome.kind is Kind.THROTTLED:
            m.count(Metric.THROTTLED)
        elif outcome.kind is Kind.AUTH_FAILED:
            m.count(Metric.AUTH_FAILURES)
            self._warn("FoxReload refused the API key (HTTP %s)", outcome.status)
        elif outcome.error_kind is not None:
            m.count(Metric.API_ERRORS)
            m.count(api_error_metric(outcome.error_kind))
        if outcome.balance_not_enough:
            m.count(Metric.BALANCE_FAILURE_SIGNALS)
            self._warn("FoxReload answered BalanceNotEnough")
        if outcome.unknown_status:
            m.count(Metric.UNKNOWN_STATUS)
        order = outcome.order
        if order is not None and order.status == "active" and _past(order.payment_expires_at, now):
            m.count(Metric.BALANCE_FAILURE_SIGNALS)
            self._warn("order still awaiting payment past paymentExpiresAt")

    def _info(self, msg: str, *args: object) -> None:
        self.log.info(msg, *args, stacklevel=2)

    def _warn(self, msg: str, *args: object) -> None:
        self.log.warning(msg, *args, stacklevel=2)


def _past(iso: str | None, now: float) -> bool:
    if not iso:
        return False
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() < now
    except ValueError:
        return False
