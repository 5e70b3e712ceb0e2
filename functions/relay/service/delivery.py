"""Deliver one terminal order exactly once: claim the lease → signed webhook → record outcome.

Shared by the per-order poller and the completion sweeper, so both keep the same guarantee: one
webhook while a lease is live, the same Idempotency-Key on any repeat after a crash. Each send is
logged in the order's attempt log (who, when, the answer, how long) by the write that ends it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from relay.adapters.ledger import (
    ClaimRequest,
    ClaimStatus,
    OutcomeRequest,
    ReleaseRequest,
    TerminalSight,
)
from relay.adapters.webhook_sink import SinkResult
from relay.domain.attempt_log import Attempt, appended, new_attempt
from relay.domain.events import CHARGED_EVENTS, Event, for_event
from relay.domain.foxreload_order import FoxOrder
from relay.domain.results import DeliveryOutcome
from relay.domain.storefront_breaker import Admission, BreakerState, Verdict, park_delay
from relay.domain.webhook import SinkVerdict, WebhookSecretError, signed_request, signing_keys
from relay.names import Metric
from relay.service.deps import RelayDeps
from relay.service.storefront_guard import StorefrontGuard
from relay.settings import LEASE_MARGIN_SECONDS

# No send starts with less time than this left before the caller's `until`.
MIN_SEND_SECONDS = 2.0


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt of an order came to, and the event it records."""

    outcome: DeliveryOutcome
    event: Event
    lease_until: float | None = None
    status_code: int | None = None
    retry_after: float | None = None
    terminal_seen_at: float | None = None  # when the relay first saw the order terminal


class Delivery:
    def __init__(self, deps: RelayDeps) -> None:
        self.deps = deps
        now = lambda: deps.clock()  # noqa: E731, PLW0108 - late-bound: deps.clock may be swapped
        self.guard = StorefrontGuard(deps.coordination, now)

    async def deliver(
        self,
        order: FoxOrder,
        event: Event,
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
        deps = self.deps
        if until is not None and until - deps.clock() < MIN_SEND_SECONDS:
            return DeliveryResult(DeliveryOutcome.NO_TIME, event)
        if order.price_ignored:
            deps.metrics.count(Metric.PRICES_IGNORED)
            deps.log.warning("FoxReload's totalPrice is not a usable amount; ignored")
        if admission is None:
            admission = await asyncio.to_thread(self.guard.admit)
        if admission.verdict is Verdict.PARK:
            return await self._park(order, event, seen_at, admission.state)
        owner = deps.new_owner()
        secret = await asyncio.to_thread(deps.webhook_secret)  # before the lease starts ticking
        try:
            signing_keys(secret)
        except WebhookSecretError:
            # Nothing can be signed until the secret is fixed: nothing is claimed or sent, and
            # the order waits within its delivery window like any other "later".
            deps.log.warning("the webhook secret's value is malformed; nothing sent")
            deps.metrics.count(Metric.WEBHOOK_AUTH_FAILURES)
            return DeliveryResult(DeliveryOutcome.RETRY_LATER, event, terminal_seen_at=seen_at)
        claimed_at = deps.clock()
        request = ClaimRequest(
            order_id=order.id,
            owner=owner,
            now=deps.clock(),
            lease_seconds=deps.settings.lease_seconds,
            sight=_terminal_sight(order, event, seen_at),
        )
        claim = await asyncio.to_thread(deps.ledger.claim, request)
        if claim.status is ClaimStatus.ALREADY_DONE:
            deps.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            return DeliveryResult(DeliveryOutcome.ALREADY_DONE, event)
        if claim.status is ClaimStatus.BUSY:
            return DeliveryResult(DeliveryOutcome.BUSY, event, lease_until=claim.lease_until)
        if claim.status is ClaimStatus.NOT_OURS:
            return DeliveryResult(DeliveryOutcome.NOT_OURS, event)
        # occurred_at: the stored first terminal sight, so every attempt sends the same body
        first_terminal = claim.terminal_seen_at or seen_at
        sent_at = deps.clock()
        try:
            sent = await self._send(
                secret, order, event, storefront_ref, claimed_at, until, first_terminal
            )
        except BaseException:
            # Whatever went wrong (or cancelled us), the lease must not outlive this attempt.
            release = ReleaseRequest(order_id=order.id, owner=owner)
            await asyncio.shield(asyncio.to_thread(deps.ledger.release, release))
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

    def _log_attempt(self, order_id: str, event: Event, attempt: Attempt) -> None:
        """One line per webhook attempt, with the order id as a key whoever made it (the
        sweeper's lines carry no order id otherwise): "one order's journey" finds it."""
        self.deps.log.info(
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
        event: Event,
        owner: str,
        first_terminal: float,
        first_seen: float,
        attempts: tuple[Attempt, ...],
    ) -> DeliveryResult:
        deps = self.deps
        if sent.long_back_off:
            deps.metrics.count(Metric.LONG_BACK_OFFS)
        storefront_up = sent.verdict in (SinkVerdict.ACCEPTED, SinkVerdict.REJECTED)
        breaker = await asyncio.to_thread(self.guard.record, storefront_up)
        if breaker.is_open:
            deps.metrics.count(Metric.STOREFRONT_UNAVAILABLE)
        if sent.verdict is SinkVerdict.ACCEPTED:
            return await self._record(order, event, owner, first_terminal, first_seen, attempts)
        release = ReleaseRequest(order_id=order.id, owner=owner, attempts=attempts)
        await asyncio.to_thread(deps.ledger.release, release)
        if sent.verdict is SinkVerdict.REJECTED:
            await asyncio.to_thread(
                deps.ledger.record_rejection, order.id, deps.clock(), order.status
            )
            return DeliveryResult(DeliveryOutcome.REJECTED, event, status_code=sent.status_code)
        if sent.verdict is SinkVerdict.UNAUTHORIZED:
            # A signature the storefront does not accept: read the secret again (it has
            # probably been rotated) and retry; the alarm on this metric tells on-call.
            deps.metrics.count(Metric.WEBHOOK_AUTH_FAILURES)
            deps.log.warning(
                "storefront answered HTTP %s: webhook secret re-read", sent.status_code
            )
            await asyncio.to_thread(deps.invalidate_webhook_secret)
        deps.metrics.count(Metric.WEBHOOK_RETRIES)
        return DeliveryResult(
            DeliveryOutcome.RETRY_LATER,
            event,
            status_code=sent.status_code,
            retry_after=sent.retry_after,
            terminal_seen_at=first_terminal,
        )

    async def _park(
        self, order: FoxOrder, event: Event, seen_at: float, breaker: BreakerState
    ) -> DeliveryResult:
        """The storefront is down and this is not the probe: no claim, no send. The first
        terminal sight is still recorded (it starts the delivery window and counts spend)."""
        deps = self.deps
        first = await asyncio.to_thread(
            deps.ledger.note_terminal, order.id, _terminal_sight(order, event, seen_at)
        )
        deps.metrics.count(Metric.DELIVERIES_PARKED)
        deps.metrics.count(Metric.STOREFRONT_UNAVAILABLE)
        wait = park_delay(breaker, deps.clock(), deps.rand())
        return DeliveryResult(
            DeliveryOutcome.PARKED, event, retry_after=wait, terminal_seen_at=first or seen_at
        )

    async def _send(
        self,
        secret: str,
        order: FoxOrder,
        event: Event,
        storefront_ref: str | None,
        claimed_at: float,
        until: float | None,
        occurred_at: float,
    ) -> SinkResult:
        """The webhook, bounded by the webhook timeout, by the lease (the send must end while
        the lease is ours, or a second worker could send beside it) and by `until`."""
        deps = self.deps
        now = deps.clock()
        request = signed_request(secret, order, event, storefront_ref, now, occurred_at)
        budget = min(
            deps.settings.webhook_timeout,
            deps.settings.lease_seconds - LEASE_MARGIN_SECONDS - (now - claimed_at),
        )
        if until is not None:
            budget = min(budget, until - now)
        return await deps.sink.send(request, budget_seconds=max(0.1, budget))

    async def _record(
        self,
        order: FoxOrder,
        event: Event,
        owner: str,
        seen_at: float,
        first_seen: float,
        attempts: tuple[Attempt, ...],
    ) -> DeliveryResult:
        deps = self.deps
        accepted = deps.clock()
        outcome = OutcomeRequest(
            order_id=order.id,
            owner=owner,
            event=event,
            now=accepted,
            total_price=order.total_price,
            cancel_reason=order.cancel_reason,
            last_status=order.status,
            attempts=attempts,
        )
        marked = await asyncio.to_thread(deps.ledger.mark_terminal, outcome)
        if not marked:  # another worker recorded it first; the storefront dedups by key
            deps.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            deps.log.info("%s sent, but another worker had recorded the outcome", event)
            return DeliveryResult(DeliveryOutcome.ALREADY_DONE, event)
        deps.metrics.count(for_event(event).metric)
        if event == Event.CANCELLED and order.cancel_reason == "payment_failure":
            deps.metrics.count(Metric.BALANCE_FAILURE_SIGNALS)
        deps.metrics.seconds(Metric.DELIVERY_LAG_SECONDS, max(0.0, accepted - seen_at))
        deps.metrics.seconds(Metric.TIME_TO_DELIVER_SECONDS, max(0.0, accepted - first_seen))
        deps.log.info(
            "%s accepted by the storefront: %d items, %d codes, lag %.2fs",
            event,
            len(order.items),
            order.code_count,
            accepted - seen_at,
        )
        return DeliveryResult(DeliveryOutcome.DELIVERED, event)


def _terminal_sight(order: FoxOrder, event: Event, seen_at: float) -> TerminalSight:
    """What the ledger stores of this terminal sight: when, the price, and whether it is spend."""
    return TerminalSight(
        seen_at=seen_at, total_price=order.total_price, charged=event in CHARGED_EVENTS
    )
