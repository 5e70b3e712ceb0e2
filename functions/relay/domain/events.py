"""The relay's event vocabulary: FoxReload's terminal statuses and the webhooks they become.

One row per terminal status says everything the relay does with it: the poll outcome `Kind`
it is classified as, the webhook `Event` sent to the storefront, the outcome recorded in the
ledger, the metric counted once the storefront accepted it, and whether FoxReload charged the
order (spend, for the balance estimate). Every other module (the poller's decision, the
sweeper, the delivery, the ledger, the balance monitor, the bench and the local stack) derives
its mapping from `TERMINALS`; none keeps a copy. tests/unit/domain/test_events.py fails when a
status, a kind, an event or an outcome lacks a row, or a consumer lacks one of them.

Which statuses cost money is an assumption until FoxReload says otherwise (relay.domain.balance
explains it): `completed` and `failed` are charged, `cancelled` is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final

from relay.names import Metric


class Kind(Enum):
    """What one FoxReload poll (or list entry) amounts to (relay.domain.poll_outcome)."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PENDING = "pending"  # active / paid / processing / unknown status
    THROTTLED = "throttled"
    AUTH_FAILED = "auth_failed"
    NOT_FOUND = "not_found"
    API_ERROR = "api_error"  # 5xx, timeout, connection error, malformed body, odd 4xx


class TerminalStatus(StrEnum):
    """FoxReload's terminal order statuses (an order never leaves one)."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Event(StrEnum):
    """The webhook events the storefront receives (the body's `event`)."""

    DELIVERED = "order.delivered"
    FAILED = "order.failed"
    CANCELLED = "order.cancelled"


class LedgerOutcome(StrEnum):
    """The ledger's `outcome` attribute (relay.names.Ledger.OUTCOME): set once, never changed."""

    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Terminal:
    """One terminal status and everything the relay does with it."""

    status: TerminalStatus
    kind: Kind
    event: Event
    outcome: LedgerOutcome
    metric: str  # a relay.names.Metric, counted when the storefront accepts the webhook
    charged: bool  # FoxReload took the money: the order counts as spend


TERMINALS: Final = (
    Terminal(
        TerminalStatus.COMPLETED,
        Kind.COMPLETED,
        Event.DELIVERED,
        LedgerOutcome.DELIVERED,
        Metric.ORDERS_DELIVERED,
        charged=True,
    ),
    Terminal(
        TerminalStatus.FAILED,
        Kind.FAILED,
        Event.FAILED,
        LedgerOutcome.FAILED,
        Metric.ORDERS_FAILED,
        charged=True,  # a failed order may be partly fulfilled; over-counting spend is safe
    ),
    Terminal(
        TerminalStatus.CANCELLED,
        Kind.CANCELLED,
        Event.CANCELLED,
        LedgerOutcome.CANCELLED,
        Metric.ORDERS_CANCELLED,
        charged=False,  # payment failed or expired, or the order was withdrawn before payment
    ),
)

_BY_STATUS: Final = {row.status.value: row for row in TERMINALS}
_BY_KIND: Final = {row.kind: row for row in TERMINALS}
_BY_EVENT: Final = {row.event.value: row for row in TERMINALS}

TERMINAL_STATUSES: Final = frozenset(_BY_STATUS)
TERMINAL_KINDS: Final = frozenset(_BY_KIND)
# The webhook events of orders FoxReload charged: what the spend index counts.
CHARGED_EVENTS: Final = frozenset(row.event for row in TERMINALS if row.charged)


def for_status(status: str) -> Terminal | None:
    """The row of a FoxReload status; None while the order is not terminal (or unknown)."""
    return _BY_STATUS.get(status)


def for_kind(kind: Kind) -> Terminal | None:
    """The row of a poll outcome's kind; None for every kind that is not a terminal status."""
    return _BY_KIND.get(kind)


def for_event(event: str) -> Terminal:
    """The row of a webhook event; KeyError for a name that is not one of `Event`."""
    return _BY_EVENT[event]
