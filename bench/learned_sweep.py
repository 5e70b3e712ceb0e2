"""The learned sweep on populations it was not tuned on (exploratory, not part of `make bench`).

PYTHONPATH=.:functions python -m bench.learned_sweep [--load 20000,40000] [--minutes 20]
    [--seed 1,2,3] [--only NAME,...] [--set family|unseen|all] [--against configured|no-probe]

Each member of the bench's population family (bench.population.FAMILY, the populations the
bench checks its targets on), or of the shapes it does not check (bench.population.UNSEEN),
runs twice at each load and seed: with the learned horizon and cadence (the default) and with
what `--against` names: the configured sweep only (`min_estimate_weight` inf: the estimate
never overrides it) or the learned sweep without its probe pages (`probe_interval` inf).
Regime changes switch in the middle of the measurement window, as in the family bench.
"""

from __future__ import annotations

import argparse
import math
from multiprocessing import get_context

from bench.des import Environment, Mode, RunSpec, percentile, simulate
from bench.population import FAMILY, UNSEEN, Population
from relay.domain.coverage import SweepConfig
from relay.domain.schedule import RelayPolicy

VARIANTS = {
    "learned": SweepConfig(),
    "configured": SweepConfig(min_estimate_weight=math.inf),
    "no-probe": SweepConfig(probe_interval=math.inf),
}
SETS = {"family": FAMILY, "unseen": UNSEEN, "all": FAMILY + UNSEEN}


def run(population: Population, variant: str, load: float, minutes: float, seed: int) -> dict:
    cfg = VARIANTS[variant]
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


def _cell(args: tuple[str, str, float, float, int]) -> tuple[str, str, float, int, dict]:
    name, variant, load, minutes, seed = args
    population = next(p for p in FAMILY + UNSEEN if p.name == name)
    return name, variant, load, seed, run(population, variant, load, minutes, seed)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--load", default="20000", help="comma-separated orders/hour")
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--seed", default="20261127", help="comma-separated seeds")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument(
        "--only",
        default="",
        help="comma-separated members: " + ",".join(m.name for m in FAMILY + UNSEEN),
    )
    p.add_argument("--set", choices=sorted(SETS), default="family")
    p.add_argument("--against", choices=["configured", "no-probe"], default="configured")
    args = p.parse_args()
    members = SETS[args.set]
    names = [m.name for m in members if not args.only or m.name in args.only.split(",")]
    loads = [float(x) for x in args.load.split(",")]
    seeds = [int(x) for x in args.seed.split(",")]
    cells = [
        (name, variant, load, args.minutes, seed)
        for load in loads
        for name in names
        for variant in (args.against, "learned")
        for seed in seeds
    ]
    with get_context("fork").Pool(max(1, args.processes)) as pool:
        done = pool.map(_cell, cells, chunksize=1)
    p99: dict[tuple[str, str, float], list[str]] = {}
    for name, variant, load, seed, row in done:
        text = " ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
        )
        print(f"{name:15s} {load:7.0f} {variant:10s} seed={seed} {text}", flush=True)
        lost = f" ({row['lost']} open)" if row["lost"] else ""
        p99.setdefault((name, variant, load), []).append(f"{row['p99']:.1f}{lost}")
    print("\np99 time-to-deliver (s), one figure per seed (orders still open at the end):")
    print(f"| member | orders/h | {args.against} | learned |")
    print("|---|---|---|---|")
    for load in loads:
        for name in names:
            against = ", ".join(p99[(name, args.against, load)])
            learned = ", ".join(p99[(name, "learned", load)])
            print(f"| {name} | {load:,.0f} | {against} | {learned} |")


if __name__ == "__main__":
    main()
