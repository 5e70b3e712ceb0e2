"""What the order services need, as one bundle built by relay.runtime (fakes in unit tests)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from relay.adapters.coordination import CoordinationTable
from relay.adapters.foxreload_client import FoxReloadClient
from relay.adapters.ledger import LedgerTable
from relay.adapters.order_queue import OrderQueue
from relay.adapters.sweep_ticks import SweepTicks
from relay.adapters.webhook_sink import WebhookSink
from relay.domain.schedule import Policy
from relay.settings import PollerSettings

if TYPE_CHECKING:
    from relay.domain.stuck_orders import LedgerOrder


class LogSink(Protocol):
    def info(
        self,
        msg: str,
        *args: object,
        stacklevel: int = ...,
        extra: Mapping[str, object] | None = ...,
    ) -> None: ...

    def warning(self, msg: str, *args: object, stacklevel: int = ...) -> None: ...


class MetricsRecorder(Protocol):
    def count(self, name: str, value: float = 1.0) -> None: ...

    def seconds(self, name: str, value: float) -> None: ...


@dataclass
class RelayDeps:
    """The adapters and settings the order relay works with (fakes in unit tests)."""

    settings: PollerSettings
    foxreload: FoxReloadClient
    sink: WebhookSink
    ledger: LedgerTable
    queue: OrderQueue
    coordination: CoordinationTable
    webhook_secret: Callable[[], str]
    metrics: MetricsRecorder
    log: LogSink
    # Forget the cached webhook secret: the storefront answered 401/403 (a rotation).
    invalidate_webhook_secret: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    new_owner: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    policy: Policy | None = None
    # Orders accepted in (start, end] with no outcome yet; None: assume some (always sweep).
    unfinished_between: Callable[[float, float], int] | None = None
    # Orders accepted in (start, end], for the sweeper's choice between sweeping and per-order
    # polling (relay.service.sweep_strategy); None: the sweeper always sweeps.
    accepted_between: Callable[[float, float], Sequence[LedgerOrder]] | None = None
    # The sweeper's tick queue: with it, a run sweeps once and sends itself the next sweep
    # (relay.domain.sweep_tick); None: a run loops, sleeping between sweeps.
    ticks: SweepTicks | None = None
