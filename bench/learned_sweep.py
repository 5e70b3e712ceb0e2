"""The learned sweep on populations it was not tuned on (exploratory, not part of `make bench`).

PYTHONPATH=.:functions python -m bench.learned_sweep [--load 20000] [--minutes 20] [--only NAME]

Each member of the bench's population family (bench.population.FAMILY, the populations the
bench checks its targets on) runs twice at one load: with the configured sweep only (the
estimate never overrides it) and with the learned horizon and cadence. `regime-x3` switches in
the middle of the measurement window, as in the family bench.
"""

from __future__ import annotations

import argparse
import math

from bench.des import Environment, Mode, RunSpec, percentile, simulate
from bench.population import FAMILY, Population
from relay.domain.coverage import SweepConfig
from relay.domain.schedule import RelayPolicy


def run(population: Population, learned: bool, load: float, minutes: float, seed: int) -> dict:
    cfg = SweepConfig(min_estimate_weight=200.0 if learned else math.inf)
    spec = RunSpec(load, warmup=900.0, measure=minutes * 60.0, seed=seed)
    env = Environment()
    population = population.for_run(spec.warmup, spec.measure)
    result = simulate(Mode("relay", RelayPolicy(), sweep=cfg), population, env, spec)
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
    p.add_argument(
        "--only",
        default="",
        help="comma-separated members: " + ",".join(m.name for m in FAMILY),
    )
    args = p.parse_args()
    for population in FAMILY:
        name = population.name
        if args.only and name not in args.only.split(","):
            continue
        for learned in (False, True):
            row = run(population, learned, args.load, args.minutes, args.seed)
            cells = " ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            )
            print(f"{name:11s} {'learned' if learned else 'config ':7s} {cells}", flush=True)


if __name__ == "__main__":
    main()
