"""Everything that can be configured about a simulator instance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.faults import FaultProfile
from simulator.timeline import TimingModel

DEFAULT_API_KEY = "sandbox-key"


@dataclass(frozen=True)
class SimulatorConfig:
    """Configuration of one FoxReload simulator.

    host/port: where to listen (port 0 = any free port). api_keys: the accepted X-API-Key values
    (all belong to one account with one balance). rate_limit_per_minute: the default per-key
    limit (FoxReload's standard tier: 100); key_rate_limits overrides it per key (enterprise: 1000).
    time_scale: simulated seconds per real second. timing: the order timing model. faults: the
    fault profile. initial_balance: account balance at start. v1_balance: serve the old
    GET /v1/balance. seed: makes timelines, codes and faults reproducible. refund_on_failure:
    failed/cancelled paid orders give their money back when they reach that status.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    rate_limit_per_minute: int = 100
    key_rate_limits: Mapping[str, int] = field(default_factory=dict)
    time_scale: float = 1.0
    timing: TimingModel = field(default_factory=TimingModel)
    faults: FaultProfile = field(default_factory=FaultProfile)
    initial_balance: float = 10_000.0
    currency: str = "USD"
    v1_balance: bool = False
    seed: int | None = None
    refund_on_failure: bool = True
    log_requests: bool = False

    def __post_init__(self) -> None:
        if not self.api_keys:
            raise ValueError("at least one API key is needed")
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be >= 1")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator binds to loopback only")
