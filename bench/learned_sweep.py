"""The learned sweep on populations it was not tuned on (exploratory, not part of `make bench`).

PYTHONPATH=.:functions python -m bench.learned_sweep [--load 20000,40000] [--minutes 20]
    [--seed 1,2,3] [--only NAME,...]

Each member of the bench's population family (bench.population.FAMILY, the populations the
bench checks its targets on) runs twice at each load and seed: with the configured sweep only
(`min_estimate_weight` inf: the estimate never overrides it) and with the learned horizon and
cadence (the default). `regime-x3` switches in the middle of the measurement window, as in the
family bench.
"""

from __future__ import annotations

import argparse
import math
from multiprocessing import get_context

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


def _cell(args: tuple[str, bool, float, float, int]) -> tuple[str, bool, float, int, dict]:
    name, learned, load, minutes, seed = args
    population = next(p for p in FAMILY if p.name == name)
    return name, learned, load, seed, run(population, learned, load, minutes, seed)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--load", default="20000", help="comma-separated orders/hour")
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--seed", default="20261127", help="comma-separated seeds")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument(
        "--only",
        default="",
        help="comma-separated members: " + ",".join(m.name for m in FAMILY),
    )
    args = p.parse_args()
    names = [m.name for m in FAMILY if not args.only or m.name in args.only.split(",")]
    loads = [float(x) for x in args.load.split(",")]
    seeds = [int(x) for x in args.seed.split(",")]
    cells = [
        (name, learned, load, args.minutes, seed)
        for load in loads
        for name in names
        for learned in (False, True)
        for seed in seeds
    ]
    with get_context("fork").Pool(max(1, args.processes)) as pool:
        done = pool.map(_cell, cells, chunksize=1)
    p99: dict[tuple[str, bool, float], list[float]] = {}
    for name, learned, load, seed, row in done:
        text = " ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
        )
        plan = "learned" if learned else "config "
        print(f"{name:15s} {load:7.0f} {plan} seed={seed} {text}", flush=True)
        p99.setdefault((name, learned, load), []).append(row["p99"])
    print("\np99 time-to-deliver (s), one figure per seed:")
    print("| member | orders/h | configured | learned |")
    print("|---|---|---|---|")
    for load in loads:
        for name in names:
            configured = ", ".join(f"{v:.1f}" for v in p99[(name, False, load)])
            learned_ = ", ".join(f"{v:.1f}" for v in p99[(name, True, load)])
            print(f"| {name} | {load:,.0f} | {configured} | {learned_} |")


if __name__ == "__main__":
    main()
