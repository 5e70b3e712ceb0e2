"""Deliver one terminal order exactly once: claim the lease → signed webhook → record outcome.

Shared by the per-order poller and the completion sweeper, so both keep the same guarantee: one
webhook while a lease is live, the same Idempotency-Key on any repeat after a crash.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum

from relay.adapters.ledger import ClaimStatus
from relay.adapters.webhook_sink import SinkResult
from relay.domain.balance import CHARGED_EVENTS
from relay.domain.foxreload_order import FoxOrder
from relay.domain.webhook import SinkVerdict, signed_request, signing_keys
from relay.names import Metric
from relay.service.deps import RelayDeps

_LEASE_MARGIN_SECONDS = 5.0
_EVENT_METRIC = {
    "order.delivered": Metric.ORDERS_DELIVERED,
    "order.failed": Metric.ORDERS_FAILED,
    "order.cancelled": Metric.ORDERS_CANCELLED,
}


class Outcome(Enum):
    DELIVERED = "delivered"  # the storefront accepted it and we recorded it
    ALREADY_DONE = "already_done"  # someone else delivered it (or recorded it first)
    BUSY = "busy"  # another worker holds a live lease
    RETRY_LATER = "retry_later"  # the storefront said later (408/429/5xx/no answer)
    REJECTED = "rejected"  # the storefront refused it for good (other 4xx)


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    event: str
    lease_until: float | None = None
    status_code: int | None = None
    retry_after: float | None = None


class Delivery:
    def __init__(self, deps: RelayDeps) -> None:
        self.d = deps

    async def deliver(
        self,
        order: FoxOrder,
        event: str,
        storefront_ref: str | None,
        seen_at: float,
        first_seen: float,
    ) -> DeliveryResult:
        """`seen_at`: when this worker saw the order terminal; `first_seen`: when it was
        accepted (the storefront's first message), for TimeToDeliverSeconds."""
        d = self.d
        owner = d.new_owner()
        secret = await asyncio.to_thread(d.webhook_secret)  # before the lease starts ticking
        signing_keys(secret)  # a malformed value (WebhookSecretError) fails before the claim
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

        # occurred_at: the stored first-terminal time, so every attempt sends the same body
        occurred_at = claim.terminal_seen_at or seen_at
        request = signed_request(secret, order, event, storefront_ref, d.clock(), occurred_at)
        # The send must end while the lease is ours, or a second worker could send beside it.
        budget = d.settings.lease_seconds - _LEASE_MARGIN_SECONDS - (d.clock() - claimed_at)
        try:
            sent = await asyncio.wait_for(d.sink.send(request), timeout=max(1.0, budget))
        except TimeoutError:
            sent = SinkResult(SinkVerdict.RETRY_LATER, None)
        if sent.verdict is SinkVerdict.ACCEPTED:
            first_terminal = claim.terminal_seen_at or seen_at
            return await self._record(order, event, owner, first_terminal, first_seen)
        await asyncio.to_thread(d.ledger.release, order.id, owner)
        if sent.verdict is SinkVerdict.REJECTED:
            await asyncio.to_thread(d.ledger.record_rejection, order.id, d.clock(), order.status)
            return DeliveryResult(Outcome.REJECTED, event, status_code=sent.status_code)
        d.metrics.count(Metric.WEBHOOK_RETRIES)
        return DeliveryResult(
            Outcome.RETRY_LATER, event, status_code=sent.status_code, retry_after=sent.retry_after
        )

    async def _record(
        self, order: FoxOrder, event: str, owner: str, seen_at: float, first_seen: float
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
        )
        if not marked:  # another worker recorded it first; the storefront dedups by key
            d.metrics.count(Metric.DUPLICATE_SUPPRESSED)
            d.log.info("%s sent, but another worker had recorded the outcome", event)
            return DeliveryResult(Outcome.ALREADY_DONE, event)
        d.metrics.count(_EVENT_METRIC[event])
        if event == "order.cancelled" and order.cancel_reason == "payment_failure":
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
