"""FoxReload simulator: a sandbox of FoxReload's public API on loopback.

Public API: FoxReloadSimulator, SimulatorConfig, TimingModel, FaultProfile, PROFILES.
See docs/simulator.md.
"""

from simulator.config import DEFAULT_API_KEY, SimulatorConfig
from simulator.faults import PROFILES, FaultProfile, profile
from simulator.server import ENDPOINTS, FoxReloadSimulator
from simulator.timeline import TimingModel

__all__ = [
    "DEFAULT_API_KEY",
    "ENDPOINTS",
    "PROFILES",
    "FaultProfile",
    "FoxReloadSimulator",
    "SimulatorConfig",
    "TimingModel",
    "profile",
]
