"""One order message, end to end: validate → (gate) → poll → decide → deliver / reschedule /
dead-letter.

The handler builds an `OrderRelay` once per cold start and calls `process` for each record of a
batch concurrently. Blocking AWS calls run in threads so the polls of a batch overlap. Every
decision comes from relay.domain (pure); this module only sequences I/O and counts things.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NoReturn

from relay.adapters.order_queue import DeadLetterReason
from relay.domain.attempt_log import Actor
from relay.domain.decision import (
    DeadLetter,
    Deliver,
    Limits,
    Reschedule,
    Timing,
    after_park,
    after_wait,
    after_webhook_retry,
    decide,
)
from relay.domain.events import Event
from relay.domain.foxreload_order import FoxOrder
from relay.domain.gate_decision import Gate, GateReason, wait_at_gate
from relay.domain.order_message import OrderMessage, Poison, parse_order_message
from relay.domain.poll_outcome import Kind, PollOutcome, classify, for_order
from relay.domain.results import DeliveryOutcome, ProcessResult, Settled
from relay.domain.retry_pacing import delivery_window_age
from relay.domain.schedule import policy_named
from relay.domain.storefront_breaker import Admission, BreakerState, Verdict, park_delay
from relay.names import Metric, api_error_metric
from relay.service.delivery import Delivery
from relay.service.deps import LogSink, MetricsRecorder, RelayDeps
from relay.service.poll_gate import PollGate

__all__ = ["LogSink", "MetricsRecorder", "OrderRelay", "QueueRecord", "RelayDeps", "Rescheduled"]


@dataclass(frozen=True)
class QueueRecord:
    """An SQS record as the relay reads it."""

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


@dataclass(frozen=True)
class _Context:
    """One message being processed: its record, its order message and its times."""

    record: QueueRecord
    message: OrderMessage
    first_seen: float  # the order's acceptance (first message's enqueue time)
    received: float


class OrderRelay:
    def __init__(self, deps: RelayDeps) -> None:
        self.deps = deps
        s = deps.settings
        self.policy = deps.policy or policy_named(
            s.poll_policy, s.poll_base_seconds, s.poll_cap_seconds, s.poll_jitter
        )
        self.limits = Limits(
            give_up_after=s.give_up_after_seconds,
            not_found_grace=s.not_found_grace_seconds,
            auth_failure_delay=s.auth_failure_delay_seconds,
            delivery_window=s.delivery_window_seconds,
        )
        self.delivery = Delivery(deps)
        now = lambda: deps.clock()  # noqa: E731, PLW0108 - late-bound: deps.clock may be swapped
        self.gate = PollGate(s, deps.coordination, clock=now)

    async def process(
        self, record: QueueRecord, received_at: float | None = None, until: float | None = None
    ) -> ProcessResult:
        """What happened: the event delivered, or why none was (relay.domain.results); raises
        `Rescheduled` when the message must come back later.
        `until` (epoch seconds): the invocation's end; no request or send runs past it."""
        received = self.deps.clock() if received_at is None else received_at
        parsed = parse_order_message(record.body)
        if isinstance(parsed, Poison):
            return await self._poison(record, parsed, received)
        if parsed.dropped_ref is not None:
            self.deps.log.warning("%s", parsed.dropped_ref)
        order_record = await asyncio.to_thread(
            self.deps.ledger.touch,
            parsed.order_id,
            sent_at=record.sent_at,
            storefront_ref=parsed.storefront_ref,
            now=received,
        )
        if order_record.attempts == 1:
            self.deps.metrics.count(Metric.ORDERS_ACCEPTED)
        if order_record.outcome is not None:
            self.deps.metrics.count(Metric.SETTLED_ORDER_MESSAGES)
            self.deps.log.info("order already %s; message dropped", order_record.outcome)
            return Settled.ALREADY_DONE
        ctx = _Context(
            record,
            OrderMessage(
                parsed.order_id,
                parsed.storefront_ref or order_record.storefront_ref,
                parsed.version,
            ),
            order_record.accepted_at or record.sent_at,
            received,
        )
        if order_record.rejected_before(record.sent_at):
            why = DeadLetter(
                "webhook_rejected",
                "the storefront refused this order's webhook for good (recorded by another "
                "worker); redrive once the storefront accepts it",
            )
            return await self._dead_letter(ctx, why, order_record.last_status)
        admission = None
        if order_record.terminal_seen_at is not None:
            # Seen terminal before (the storefront said later): ask the breaker before
            # spending a request on re-reading codes that might only be parked again.
            admission = await asyncio.to_thread(self.delivery.guard.admit)
            if admission.verdict is Verdict.PARK:
                return await self._park(
                    ctx, admission.state, order_record.terminal_seen_at, order_record.last_status
                )
        return await self._poll(ctx, until, admission)

    async def _poll(
        self, ctx: _Context, until: float | None, admission: Admission | None
    ) -> ProcessResult:
        """Through the gate, one FoxReload GET, and what the outcome table says to do."""
        now = self.deps.clock()
        gate = await asyncio.to_thread(
            self.gate.check, now - ctx.first_seen, now - ctx.record.sent_at, now
        )
        if not gate.poll:
            return await self._wait_at_gate(ctx, gate)

        reply = await self.deps.foxreload.get_order(ctx.message.order_id, until=until)
        now = self.deps.clock()
        outcome = for_order(classify(reply, now), ctx.message.order_id)
        self._count_poll(outcome, now)
        if outcome.kind is Kind.THROTTLED:
            await asyncio.to_thread(self.gate.throttled, outcome.retry_after, now)
        timing = self._timing(ctx, now)
        action = decide(outcome, timing, self.limits, self.policy, self.deps.rand())
        if isinstance(action, Deliver):
            assert outcome.order is not None  # a terminal outcome always carries its order
            return await self._deliver(
                ctx, outcome.order, action.event, timing, now, until, admission
            )
        if isinstance(action, DeadLetter):
            return await self._dead_letter(ctx, action, outcome.status)
        return await self._reschedule(ctx.record, action, outcome.status)

    async def _park(
        self,
        ctx: _Context,
        breaker: BreakerState,
        terminal_seen_at: float,
        last_status: str | None,
    ) -> ProcessResult:
        """The storefront breaker is open and another delivery holds the probe: wait without
        a FoxReload request, within the delivery window."""
        now = self.deps.clock()
        self.deps.metrics.count(Metric.DELIVERIES_PARKED)
        self.deps.metrics.count(Metric.STOREFRONT_UNAVAILABLE)
        timing = self._timing(ctx, now)
        wait = park_delay(breaker, now, self.deps.rand())
        since = delivery_window_age(now, terminal_seen_at, ctx.record.sent_at)
        action = after_park(timing, self.limits, since, wait, self.deps.rand())
        if isinstance(action, DeadLetter):
            return await self._dead_letter(ctx, action, last_status)
        return await self._reschedule(ctx.record, action, None)

    async def _wait_at_gate(self, ctx: _Context, gate: Gate) -> ProcessResult:
        """No poll now: the sweep covers the order, or the request budget is spent. Running out
        of budget never dead-letters an order: it waits, and its age is the backlog metric."""
        timing = self._timing(ctx, self.deps.clock())
        if gate.reason is GateReason.SWEPT:
            self.deps.metrics.count(Metric.SWEEP_DEFERRALS)
        else:
            self.deps.metrics.count(Metric.BUDGET_WAITS)
            self.deps.metrics.seconds(Metric.BACKLOG_AGE_SECONDS, timing.elapsed)
        spread, pace = self.deps.rand(), self.deps.rand()
        action = wait_at_gate(gate, timing, self.limits.give_up_after, spread, pace)
        return await self._reschedule(ctx.record, action, None)

    async def _deliver(
        self,
        ctx: _Context,
        order: FoxOrder,
        event: Event,
        timing: Timing,
        seen_at: float,
        until: float | None,
        admission: Admission | None = None,
    ) -> ProcessResult:
        result = await self.delivery.deliver(
            order,
            event,
            ctx.message.storefront_ref,
            seen_at,
            ctx.first_seen,
            until,
            admission,
            actor=Actor.POLLER,
        )
        if result.outcome is DeliveryOutcome.DELIVERED:
            return event
        if result.outcome is DeliveryOutcome.ALREADY_DONE:
            self.deps.log.info("order already delivered by another worker")
            return Settled.ALREADY_DONE
        if result.outcome is DeliveryOutcome.BUSY:
            wait = max(1.0, (result.lease_until or self.deps.clock()) - self.deps.clock())
            return await self._reschedule(
                ctx.record, after_wait(timing, wait, "lease_busy", self.deps.rand()), order.status
            )
        if result.outcome is DeliveryOutcome.PARKED:
            wait = result.retry_after or self.delivery.guard.config.probe_interval
            now = self.deps.clock()
            since = delivery_window_age(now, result.terminal_seen_at or seen_at, ctx.record.sent_at)
            parked = after_park(timing, self.limits, since, wait, self.deps.rand())
            if isinstance(parked, DeadLetter):
                return await self._dead_letter(ctx, parked, order.status)
            return await self._reschedule(ctx.record, parked, order.status)
        if result.outcome in (DeliveryOutcome.NO_TIME, DeliveryOutcome.NOT_OURS):
            # Out of invocation time (or the ledger lost the item): look again in a moment.
            wait = 1.0 + 4.0 * self.deps.rand()
            return await self._reschedule(
                ctx.record,
                after_wait(timing, wait, result.outcome.value, self.deps.rand()),
                order.status,
            )
        if result.outcome is DeliveryOutcome.REJECTED:
            why = DeadLetter(
                "webhook_rejected",
                f"storefront answered HTTP {result.status_code} to {event}; not retried",
            )
            return await self._dead_letter(ctx, why, order.status)
        since_terminal = delivery_window_age(
            self.deps.clock(), result.terminal_seen_at or seen_at, ctx.record.sent_at
        )
        retry = after_webhook_retry(
            timing, self.limits, since_terminal, result.retry_after, self.deps.rand()
        )
        if isinstance(retry, DeadLetter):
            detail = f"{retry.detail}; last answer {result.status_code or 'none'}"
            return await self._dead_letter(ctx, DeadLetter(retry.reason, detail), order.status)
        return await self._reschedule(ctx.record, retry, order.status)

    async def _reschedule(
        self, record: QueueRecord, action: Reschedule, status: str | None
    ) -> NoReturn:
        await asyncio.to_thread(self.deps.queue.reschedule, record.receipt_handle, action.delay)
        self.deps.log.info(
            "not done (%s, status %s); next look in %ss", action.reason, status or "-", action.delay
        )
        raise Rescheduled(action.delay, action.reason)

    async def _dead_letter(
        self, ctx: _Context | QueueRecord, action: DeadLetter, last_status: str | None
    ) -> ProcessResult:
        """Copy the message to the DLQ with the why; `ctx` is a bare record for poison."""
        record = ctx.record if isinstance(ctx, _Context) else ctx
        order_id = ctx.message.order_id if isinstance(ctx, _Context) else None
        why = DeadLetterReason(
            reason=action.reason,
            detail=action.detail,
            attempts=record.receive_count,
            first_seen=ctx.first_seen if isinstance(ctx, _Context) else record.sent_at,
            last_status=last_status,
            order_id=order_id,
        )
        await asyncio.to_thread(self.deps.queue.dead_letter, record.body, why)
        if order_id is not None:
            await asyncio.to_thread(
                self.deps.ledger.record_dead_letter,
                order_id,
                reason=action.reason,
                last_status=last_status,
                now=self.deps.clock(),
            )
        self.deps.metrics.count(Metric.ORDERS_DEAD_LETTERED)
        self.deps.log.warning("dead-lettered: %s: %s", action.reason, action.detail)
        return Settled.DEAD_LETTERED

    async def _poison(self, record: QueueRecord, poison: Poison, received: float) -> ProcessResult:
        self.deps.metrics.count(Metric.POISON_MESSAGES)
        return await self._dead_letter(record, DeadLetter(poison.reason, poison.detail), None)

    def _timing(self, ctx: _Context, now: float) -> Timing:
        return Timing(
            attempt=max(0, ctx.record.receive_count - 1),
            elapsed=now - ctx.record.sent_at,
            seconds_since_receive=now - ctx.received,
        )

    def _count_poll(self, outcome: PollOutcome, now: float) -> None:
        metrics = self.deps.metrics
        metrics.count(Metric.POLL_ATTEMPTS)
        if outcome.long_back_off:
            metrics.count(Metric.LONG_BACK_OFFS)
        if outcome.kind is Kind.THROTTLED:
            metrics.count(Metric.THROTTLED)
        elif outcome.kind is Kind.AUTH_FAILED:
            metrics.count(Metric.AUTH_FAILURES)
            self.deps.log.warning("FoxReload refused the API key (HTTP %s)", outcome.status)
        elif outcome.error_kind is not None:
            metrics.count(Metric.API_ERRORS)
            metrics.count(api_error_metric(outcome.error_kind))
        if outcome.balance_not_enough:
            metrics.count(Metric.BALANCE_FAILURE_SIGNALS)
            self.deps.log.warning("FoxReload answered BalanceNotEnough")
        if outcome.unknown_status:
            metrics.count(Metric.UNKNOWN_STATUS)
        order = outcome.order
        if order is not None and order.status == "active" and order.balance_signal(now):
            metrics.count(Metric.BALANCE_FAILURE_SIGNALS)
            self.deps.log.warning("order still awaiting payment past paymentExpiresAt")
