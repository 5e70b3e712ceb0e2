"""Classify one FoxReload poll (an HTTP response or a transport failure) into an outcome.

Pure: the FoxReload client hands over what came back; nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum

from relay.domain.events import TERMINAL_KINDS, Kind, TerminalStatus, for_status
from relay.domain.foxreload_order import (
    KNOWN_STATUSES,
    FoxOrder,
    MalformedOrder,
    parse_order,
)
from relay.names import ApiErrorKind

# The longest Retry-After (FoxReload's or the storefront's) the relay obeys. A day-long value
# would put every warm sweeper to sleep through its timeout and age orders past their deadline
# unseen; beyond the cap the relay looks again and is told again, at the cost of one request.
RETRY_AFTER_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class HttpReply:
    """An HTTP answer as the relay classifies it: status, lower-case headers, raw body."""

    status_code: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class TransportFailure(Enum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    OVERSIZED = "oversized"  # the body passed the client's size cap: not an answer


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of an order found: its kind, the order if parsed, and a Retry-After."""

    kind: Kind
    order: FoxOrder | None = None
    status: str | None = None  # FoxReload status, or HTTP status text for errors
    error_kind: str | None = None  # one of ApiErrorKind for API_ERROR / NOT_FOUND
    retry_after: float | None = None
    unknown_status: bool = False
    balance_not_enough: bool = False  # an error body naming BalanceNotEnough: a balance signal
    long_back_off: bool = False  # Retry-After asked for more than RETRY_AFTER_CAP_SECONDS

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS


_TRANSPORT_KIND = {
    TransportFailure.TIMEOUT: ApiErrorKind.TIMEOUT,
    TransportFailure.CONNECTION: ApiErrorKind.CONNECTION,
    TransportFailure.OVERSIZED: ApiErrorKind.MALFORMED,
}


def classify(reply: HttpReply | TransportFailure, now_epoch: float | None = None) -> PollOutcome:
    if isinstance(reply, TransportFailure):
        return PollOutcome(Kind.API_ERROR, status=reply.value, error_kind=_TRANSPORT_KIND[reply])
    code = reply.status_code
    retry_after, long_back_off = bounded_retry_after(reply.headers.get("retry-after"), now_epoch)
    if code == 429:
        return PollOutcome(
            Kind.THROTTLED, status="429", retry_after=retry_after, long_back_off=long_back_off
        )
    if code in (401, 403):
        return PollOutcome(Kind.AUTH_FAILED, status=str(code))
    if code == 404:
        return PollOutcome(Kind.NOT_FOUND, status="404", error_kind=ApiErrorKind.NOT_FOUND)
    if code >= 500:
        return PollOutcome(
            Kind.API_ERROR,
            status=str(code),
            error_kind=ApiErrorKind.SERVER_ERROR,
            retry_after=retry_after,
            long_back_off=long_back_off,
        )
    if not 200 <= code < 300:
        return PollOutcome(
            Kind.API_ERROR,
            status=str(code),
            error_kind=ApiErrorKind.CLIENT_ERROR,
            balance_not_enough=b"BalanceNotEnough" in reply.body,
        )
    try:
        order = parse_order(json.loads(reply.body))
    except (ValueError, RecursionError):  # JSONDecodeError and MalformedOrder are ValueErrors
        return PollOutcome(Kind.API_ERROR, status=str(code), error_kind=ApiErrorKind.MALFORMED)
    if (
        order.status == TerminalStatus.COMPLETED
        and order.code_count == 0
        and not any(item.error for item in order.items)
    ):
        # Completed with no codes and no item errors: nothing to hand over yet. Counted as a
        # malformed answer and retried, rather than sending the storefront an empty delivery.
        return PollOutcome(Kind.API_ERROR, status=str(code), error_kind=ApiErrorKind.MALFORMED)
    terminal = for_status(order.status)
    if terminal is not None:
        return PollOutcome(terminal.kind, order=order, status=order.status)
    return PollOutcome(
        Kind.PENDING,
        order=order,
        status=order.status,
        unknown_status=order.status not in KNOWN_STATUSES,
    )


def for_order(outcome: PollOutcome, order_id: str) -> PollOutcome:
    """The reply must be about the order we asked for (ids compared case-insensitively); an
    answer about another order is treated as malformed, never delivered under this message.
    The order keeps our (canonical) id, which keys the ledger and the webhook."""
    order = outcome.order
    if order is None:
        return outcome
    if order.id.lower() != order_id.lower():
        return PollOutcome(Kind.API_ERROR, status="wrong_order", error_kind=ApiErrorKind.MALFORMED)
    if order.id == order_id:
        return outcome
    return dataclasses.replace(outcome, order=dataclasses.replace(order, id=order_id))


def bounded_retry_after(
    value: str | None, now_epoch: float | None = None
) -> tuple[float | None, bool]:
    """Retry-After in seconds, capped at RETRY_AFTER_CAP_SECONDS; True when it was capped."""
    seconds = parse_retry_after(value, now_epoch)
    if seconds is None or seconds <= RETRY_AFTER_CAP_SECONDS:
        return seconds, False
    return RETRY_AFTER_CAP_SECONDS, True


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date. Garbage gives None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if now_epoch is None:
            return None
        seconds = when.timestamp() - now_epoch
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


__all__ = [
    "HttpReply",
    "Kind",
    "MalformedOrder",
    "PollOutcome",
    "TransportFailure",
    "bounded_retry_after",
    "classify",
    "parse_retry_after",
]
