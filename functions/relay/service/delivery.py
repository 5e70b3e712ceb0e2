"""Deliver one terminal order exactly once: claim the lease → signed webhook → record outcome.

Shared by the per-order poller and the completion sweeper, so both keep the same guarantee: one
webhook while a lease is live, the same Idempotency-Key on any repeat after a crash. Each send is
logged in the order's attempt log (who, when, the answer, how long) by the write that ends it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum

from relay.adapters.ledger import ClaimStatus
from relay.adapters.webhook_sink import SinkResult
from relay.domain.attempt_log import Attempt, appended, new_attempt
from relay.domain.events import CHARGED_EVENTS, Event, for_event
from relay.domain.foxreload_order import FoxOrder
from relay.domain.storefront_breaker import Admission, BreakerState, Verdict, park_delay
from relay.domain.webhook import SinkVerdict, WebhookSecretError, signed_request, signing_keys
from relay.names import Metric
from relay.service.deps import RelayDeps
from relay.service.storefront_guard import StorefrontGuard
from relay.settings import LEASE_MARGIN_SECONDS

# No send starts with less time than this left before the caller's `until`.
MIN_SEND_SECONDS = 2.0


class Outcome(Enum):
    DELIVERED = "delivered"  # the storefront accepted it and we recorded it
    ALREADY_DONE = "already_done"  # someone else delivered it (or recorded it first)
    BUSY = "busy"  # another worker holds a live lease
    RETRY_LATER = "retry_later"  # the storefront said later (408/429/5xx/no answer)
    REJECTED = "rejected"  # the storefront refused it for good (other 4xx)
    NOT_OURS = "not_ours"  # the relay never accepted this order: nothing is sent
    NO_TIME = "no_time"  # too little of the caller's time left to send: not even claimed
    PARKED = "parked"  # the storefront breaker is open: wait `retry_after`, no claim, no send


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    event: str
    lease_until: float | None = None
    status_code: int | None = None
    retry_after: float | None = None
    terminal_seen_at: float | None = None  # when the relay first saw the order terminal


class Delivery:
    def __init__(self, deps: RelayDeps) -> None:
        self.d = deps
        now = lambda: deps.clock()  # noqa: E731, PLW0108 - late-bound: deps.clock may be swapped
        self.guard = StorefrontGuard(deps.coordination, now)

    async def deliver(
        self,
        order: FoxOrder,
        event: str,
        storefront_ref: str | None,
        seen_at: float,
        first_seen: float,
        until: float | None = None,
        admission: Admission | None = None,
        *,
        actor: str,
    ) -> DeliveryResult:
        """`seen_at`: when this worker saw the order terminal; `first_seen`: when it was
        accepted (the storefront's first message), for TimeToDeliverSeconds; `until`: the
        caller's own end (its Lambda time): no send starts that could not finish by then;
        `admission`: the storefront breaker's word, when the caller already asked for it;
        `actor`: who is delivering (relay.domain.attempt_log.Actor), for the attempt log."""
        d = self.d
        if until is not None and until - d.clock() < MIN_SEND_SECONDS:
            return DeliveryResult(Outcome.NO_TIME, event)
        if order.price_ignored:
            d.metrics.count(Metric.PRICES_IGNORED)
            d.log.warning("FoxReload's totalPrice is not a usable amount; ignored")
        if admission is None:
            admission = await asyncio.to_thread(self.guard.admit)
        if admission.verdict is Verdict.PARK:
            return await self._park(order, event, seen_at, admission.state)
        owner = d.new_owner()
        secret = await asyncio.to_thread(d.webhook_secret)  # before the lease starts ticking
        try:
            signing_keys(secret)
        except WebhookSecretError:
            # Nothing can be signed until the secret is fixed: nothing is claimed or sent, and
            # the order waits within its delivery window like any other "later".
            d.log.warning("the webhook secret's value is malformed; nothing sent")
            d.metrics.count(Metric.WEBHOOK_AUTH_FAILURES)
            return DeliveryResult(Outcome.RETRY_LATER, event, terminal_seen_at=seen_at)
        claimed_at = d.clock()
        claim = await asyncio.to_thread(
            d.ledger.claim,
            order.id,
            owner,
            d.clock(),
            d.settings.lease_seconds,
            seen_at,
            order.total_price,
            event in CHARGED_EVENTS,
        )
        if claim.status is ClaimStatus.ALREADY_DONE:
            d.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            return DeliveryResult(Outcome.ALREADY_DONE, event)
        if claim.status is ClaimStatus.BUSY:
            return DeliveryResult(Outcome.BUSY, event, lease_until=claim.lease_until)
        if claim.status is ClaimStatus.NOT_OURS:
            return DeliveryResult(Outcome.NOT_OURS, event)
        # occurred_at: the stored first terminal sight, so every attempt sends the same body
        first_terminal = claim.terminal_seen_at or seen_at
        sent_at = d.clock()
        try:
            sent = await self._send(
                secret, order, event, storefront_ref, claimed_at, until, first_terminal
            )
        except BaseException:
            # Whatever went wrong (or cancelled us), the lease must not outlive this attempt.
            await asyncio.shield(asyncio.to_thread(d.ledger.release, order.id, owner))
            raise
        attempt = new_attempt(
            claim.attempt_log,
            at=sent_at,
            actor=actor,
            status_code=sent.status_code,
            failure=sent.failure,
            latency_seconds=sent.latency_seconds,
        )
        self._log_attempt(order.id, event, attempt)
        attempts = appended(claim.attempt_log, attempt)
        return await self._after_send(
            sent, order, event, owner, first_terminal, first_seen, attempts
        )

    def _log_attempt(self, order_id: str, event: str, attempt: Attempt) -> None:
        """One line per webhook attempt, with the order id as a key whoever made it (the
        sweeper's lines carry no order id otherwise): "one order's journey" finds it."""
        self.d.log.info(
            "webhook attempt %d of %s: %s in %d ms",
            attempt.number,
            event,
            attempt.answer,
            attempt.latency_ms,
            extra={
                "order_id": order_id,
                "actor": attempt.actor,
                "attempt": attempt.number,
                "webhook_status": attempt.status_code,
                "webhook_failure": attempt.failure,
                "latency_ms": attempt.latency_ms,
            },
        )

    async def _after_send(
        self,
        sent: SinkResult,
        order: FoxOrder,
        event: str,
        owner: str,
        first_terminal: float,
        first_seen: float,
        attempts: tuple[Attempt, ...],
    ) -> DeliveryResult:
        d = self.d
        if sent.long_back_off:
            d.metrics.count(Metric.LONG_BACK_OFFS)
        storefront_up = sent.verdict in (SinkVerdict.ACCEPTED, SinkVerdict.REJECTED)
        breaker = await asyncio.to_thread(self.guard.record, storefront_up)
        if breaker.is_open:
            d.metrics.count(Metric.STOREFRONT_UNAVAILABLE)
        if sent.verdict is SinkVerdict.ACCEPTED:
            return await self._record(order, event, owner, first_terminal, first_seen, attempts)
        await asyncio.to_thread(d.ledger.release, order.id, owner, attempts)
        if sent.verdict is SinkVerdict.REJECTED:
            await asyncio.to_thread(d.ledger.record_rejection, order.id, d.clock(), order.status)
            return DeliveryResult(Outcome.REJECTED, event, status_code=sent.status_code)
        if sent.verdict is SinkVerdict.UNAUTHORIZED:
            # A signature the storefront does not accept: read the secret again (it has
            # probably been rotated) and retry; the alarm on this metric tells on-call.
            d.metrics.count(Metric.WEBHOOK_AUTH_FAILURES)
            d.log.warning("storefront answered HTTP %s: webhook secret re-read", sent.status_code)
            await asyncio.to_thread(d.invalidate_webhook_secret)
        d.metrics.count(Metric.WEBHOOK_RETRIES)
        return DeliveryResult(
            Outcome.RETRY_LATER,
            event,
            status_code=sent.status_code,
            retry_after=sent.retry_after,
            terminal_seen_at=first_terminal,
        )

    async def _park(
        self, order: FoxOrder, event: str, seen_at: float, breaker: BreakerState
    ) -> DeliveryResult:
        """The storefront is down and this is not the probe: no claim, no send. The first
        terminal sight is still recorded (it starts the delivery window and counts spend)."""
        d = self.d
        first = await asyncio.to_thread(
            d.ledger.note_terminal, order.id, seen_at, order.total_price, event in CHARGED_EVENTS
        )
        d.metrics.count(Metric.DELIVERIES_PARKED)
        d.metrics.count(Metric.STOREFRONT_UNAVAILABLE)
        wait = park_delay(breaker, d.clock(), d.rand())
        return DeliveryResult(
            Outcome.PARKED, event, retry_after=wait, terminal_seen_at=first or seen_at
        )

    async def _send(
        self,
        secret: str,
        order: FoxOrder,
        event: str,
        storefront_ref: str | None,
        claimed_at: float,
        until: float | None,
        occurred_at: float,
    ) -> SinkResult:
        """The webhook, bounded by the webhook timeout, by the lease (the send must end while
        the lease is ours, or a second worker could send beside it) and by `until`."""
        d = self.d
        now = d.clock()
        request = signed_request(secret, order, event, storefront_ref, now, occurred_at)
        budget = min(
            d.settings.webhook_timeout,
            d.settings.lease_seconds - LEASE_MARGIN_SECONDS - (now - claimed_at),
        )
        if until is not None:
            budget = min(budget, until - now)
        return await d.sink.send(request, budget_seconds=max(0.1, budget))

    async def _record(
        self,
        order: FoxOrder,
        event: str,
        owner: str,
        seen_at: float,
        first_seen: float,
        attempts: tuple[Attempt, ...],
    ) -> DeliveryResult:
        d = self.d
        accepted = d.clock()
        marked = await asyncio.to_thread(
            d.ledger.mark_terminal,
            order.id,
            owner,
            event,
            accepted,
            order.total_price,
            order.cancel_reason,
            order.status,
            attempts,
        )
        if not marked:  # another worker recorded it first; the storefront dedups by key
            d.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            d.log.info("%s sent, but another worker had recorded the outcome", event)
            return DeliveryResult(Outcome.ALREADY_DONE, event)
        d.metrics.count(for_event(event).metric)
        if event == Event.CANCELLED and order.cancel_reason == "payment_failure":
            d.metrics.count(Metric.BALANCE_FAILURE_SIGNALS)
        d.metrics.seconds(Metric.DELIVERY_LAG_SECONDS, max(0.0, accepted - seen_at))
        d.metrics.seconds(Metric.TIME_TO_DELIVER_SECONDS, max(0.0, accepted - first_seen))
        d.log.info(
            "%s accepted by the storefront: %d items, %d codes, lag %.2fs",
            event,
            len(order.items),
            order.code_count,
            accepted - seen_at,
        )
        return DeliveryResult(Outcome.DELIVERED, event)
