"""The learned sweep on populations it was not tuned on (exploratory, not part of `make bench`).

PYTHONPATH=.:functions python -m bench.learned_sweep [--load 20000] [--minutes 20] [--only NAME]

Each population runs twice at one load: with the configured sweep only (the estimate never
overrides it) and with the learned horizon and cadence. `regime-x3` multiplies every completion
time by 3 from the 25th simulated minute on, 10 minutes into the window (orders are drawn in
arrival order).
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass, replace

from bench.des import Environment, Mode, RunSpec, percentile, simulate
from bench.population import POPULATIONS, PopulationModel
from relay.domain.coverage import SweepConfig
from relay.domain.schedule import RelayPolicy

# A slow tail shaped unlike the bench's: 6 % of orders end around 4-6 minutes.
SLOW_MODE = replace(
    POPULATIONS["default"],
    name="slow-mode",
    tail_share=0.06,
    tail_offset=60.0,
    tail_median=240.0,
    tail_sigma=0.35,
)
# A second mode: 8 % of orders end around 2.5 minutes (60 s + log-normal median 100 s, sigma 0.25).
BIMODAL = replace(
    POPULATIONS["default"],
    name="bimodal",
    tail_share=0.08,
    tail_offset=60.0,
    tail_median=100.0,
    tail_sigma=0.25,
)
# A log-normal tail with a large sigma: 10 % of orders, median 2 minutes, sigma 1.0.
WIDE_TAIL = replace(
    POPULATIONS["default"],
    name="wide-tail",
    tail_share=0.10,
    tail_offset=0.0,
    tail_median=120.0,
    tail_sigma=1.0,
)


@dataclass
class Shifted:
    """A population whose completion times are multiplied by `factor` after `after` draws."""

    base: PopulationModel
    after: int
    factor: float
    draws: int = 0

    @property
    def name(self) -> str:
        return f"{self.base.name}-x{self.factor:g}"

    @property
    def create_to_enqueue(self) -> float:
        return self.base.create_to_enqueue

    def draw(self, rng: random.Random) -> tuple[float, str | None]:
        self.draws += 1
        seconds, final = self.base.draw(rng)
        if self.draws > self.after and math.isfinite(seconds):
            seconds *= self.factor
        return seconds, final


def run(population: object, learned: bool, load: float, minutes: float, seed: int) -> dict:
    cfg = SweepConfig(min_estimate_weight=200.0 if learned else math.inf)
    spec = RunSpec(load, warmup=900.0, measure=minutes * 60.0, seed=seed)
    env = Environment()
    result = simulate(Mode("relay", RelayPolicy(), sweep=cfg), population, env, spec)  # type: ignore[arg-type]
    ttd = result.deliver_lags
    w = result.window
    return {
        "p50": percentile(ttd, 50),
        "p95": percentile(ttd, 95),
        "p99": percentile(ttd, 99),
        "req/deliv": w.api_requests / max(1, result.window_deliveries),
        "429": w.api_429,
        "dlq_completed": result.completed_dead_lettered,
        "lost": result.lost,
        "sweeps": w.sweeps,
        "pages/sweep": w.sweep_pages / max(1, w.sweeps),
        "period": result.sweep_period_mean,
        "horizon": result.sweep_horizon_mean,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--load", type=float, default=20000)
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--only", default="")
    args = p.parse_args()
    shift_after = int(args.load * (25 / 60))
    pops = {
        "default": lambda: POPULATIONS["default"],
        "heavy-tail": lambda: POPULATIONS["heavy-tail"],
        "bimodal": lambda: BIMODAL,
        "slow-mode": lambda: SLOW_MODE,
        "wide-tail": lambda: WIDE_TAIL,
        "regime-x3": lambda: Shifted(POPULATIONS["default"], shift_after, 3.0),
    }
    for name, make in pops.items():
        if args.only and name not in args.only.split(","):
            continue
        for learned in (False, True):
            row = run(make(), learned, args.load, args.minutes, args.seed)
            cells = " ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            )
            print(f"{name:11s} {'learned' if learned else 'config ':7s} {cells}", flush=True)


if __name__ == "__main__":
    main()
