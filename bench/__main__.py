"""`make bench` / `python -m bench`: run everything, print the tables, write JSON.

python -m bench                 # the full run (~5 min of CPU: ~3 min on 2 idle cores)
python -m bench --quick         # shorter simulated windows, for a smoke check
python -m bench --skip-handler  # only the simulation and the cost table
python -m bench --stress-full   # the stress scenarios at full size (4 h outage at 5,000/h too)
python -m bench --no-stress     # without the stress scenarios
python -m bench --capacity 34000  # overload scenarios around this load, no capacity search
python -m bench --only cold,batch   # only section 5: cold start and/or the handler batch
python -m bench --family-full   # the population family with the main section's windows
python -m bench --no-family     # without the population family (section 8) and its charts
python -m bench --no-charts     # no PNGs (docs/performance/*.png by default)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import charts, cold_start, family, handler_cost
from bench.run import (
    check_targets,
    configuration,
    find_capacity,
    fmt,
    run_all,
    run_scenarios,
)

RESULTS = Path(__file__).resolve().parent / "results"
CHARTS = Path(__file__).resolve().parent.parent / "docs" / "performance"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.only:
        return only(args)
    started = time.monotonic()
    rows = run_all(args.quick, args.seed, args.processes)
    targets = check_targets(rows)
    capacity = None
    stress = None
    if not args.no_stress:
        if args.capacity:
            capacity = {"sustained_load": args.capacity, "probes": [], "given": True}
        else:
            capacity = find_capacity(args.seed)
        stress = run_scenarios(args.stress_full, capacity["sustained_load"], args.processes)
    fam = None
    if not args.no_family:
        config = family.CONFIGS[
            "full" if args.family_full else "quick" if args.quick else "default"
        ]
        fam = family.run_family(config, args.seed, args.processes)
    handler = None if args.skip_handler else handler_cost.measure()
    cold = None if args.skip_handler else cold_start.measure(args.cold_runs)
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "quick": args.quick,
        "seed": args.seed,
        "runs": rows,
        "targets": targets,
        "capacity": capacity,
        "scenarios": stress,
        "family": fam,
        "stress_full": args.stress_full,
        "handler_batch_cost": handler,
        "cold_start": cold,
        "configuration": configuration(),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print_report(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(jsonable(report), indent=2, sort_keys=True)
    (out / f"bench-{stamp}.json").write_text(text)
    (out / "latest.json").write_text(text)
    print(f"\nwrote {out / 'latest.json'} ({report['wall_seconds']} s)")
    if fam is not None and not args.no_charts:
        for path in charts.render(report, Path(args.charts_dir)):
            print(f"wrote {path}")
    if handler is not None and "failed" in handler:
        print("a bench part FAILED (see above): exit 1", file=sys.stderr)
        return 1
    return 0


PARTS = ("cold", "batch")


def only(args: argparse.Namespace) -> int:
    """Section 5 alone: no simulation. Written to only-<stamp>.json, latest.json left alone."""
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        print(f"--only: unknown part(s) {sorted(unknown)}; choose from {PARTS}", file=sys.stderr)
        return 2
    started = time.monotonic()
    handler = handler_cost.measure() if "batch" in parts else None
    cold = cold_start.measure(args.cold_runs) if "cold" in parts else None
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "handler_batch_cost": handler,
        "cold_start": cold,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print("## 5. Handler batch cost and cold start")
    if handler is not None:
        print(handler_cost.describe(handler))
    if cold is not None:
        print(cold_start.describe(cold))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out / f"only-{stamp}.json"
    path.write_text(json.dumps(jsonable(report), indent=2, sort_keys=True))
    print(f"\nwrote {path} ({report['wall_seconds']} s)")
    if handler is not None and "failed" in handler:
        print("a bench part FAILED (see above): exit 1", file=sys.stderr)
        return 1
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter simulated windows")
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--cold-runs", type=int, default=11)
    p.add_argument("--skip-handler", action="store_true", help="no handler/cold-start parts")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--stress-full", action="store_true", help="every stress scenario full size")
    p.add_argument("--no-stress", action="store_true", help="skip the stress scenarios")
    p.add_argument("--capacity", type=int, default=0, help="sustained load: skip the search")
    p.add_argument("--only", default="", help="comma-separated parts of section 5: cold,batch")
    p.add_argument("--no-family", action="store_true", help="skip the population family")
    p.add_argument("--family-full", action="store_true", help="family with long windows")
    p.add_argument("--no-charts", action="store_true", help="write no PNG charts")
    p.add_argument("--charts-dir", default=str(CHARTS))
    return p.parse_args(argv)


def jsonable(value: Any) -> Any:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        if math.isnan(value):
            return None
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def x(row: dict[str, Any], key: str) -> str:
    ratio = row.get("vs_seed", {}).get(key)
    return "" if ratio is None else f" ({fmt(ratio, 2)}x)"


def print_report(report: dict[str, Any]) -> None:
    rows = [r for r in report["runs"] if r["section"] == "main"]
    print("## 1-2. Schedule efficiency at 1,000 orders/hour (default population, one key)")
    eff = [r for r in rows if r["load"] == 1000]
    print(
        table(
            [
                "policy",
                "API req / delivered",
                "lag p50 s",
                "lag p95 s",
                "lag p99 s",
                "dead-lettered",
                "429s",
            ],
            [
                [
                    r["mode"],
                    f"{r['requests_per_delivered']:.2f}{x(r, 'requests_per_delivered')}",
                    f"{fmt(r['detection_lag_p50'])}{x(r, 'detection_lag_p50')}",
                    f"{fmt(r['detection_lag_p95'])}{x(r, 'detection_lag_p95')}",
                    f"{fmt(r['detection_lag_p99'])}{x(r, 'detection_lag_p99')}",
                    f"{100 * r['dead_lettered_share']:.2f}%{x(r, 'dead_lettered_share')}",
                    str(r["http_429"]),
                ]
                for r in eff
            ],
        )
    )
    print("\n## 3. Throughput on one 100 req/min key")
    print(throughput_table(rows))
    heavy = [r for r in report["runs"] if r["section"] == "heavy-tail"]
    if heavy:
        print("\n## 3b. Sensitivity: heavy-tail population (9% long tail, 1.5% never complete)")
        print(throughput_table(heavy))
    print("\n## 4. Targets")
    print(
        table(
            ["target", "met", "value"],
            [[t["target"], "yes" if t["met"] else "NO", t["value"]] for t in report["targets"]],
        )
    )
    print("\n## 5. Handler batch cost and cold start")
    print(handler_cost.describe(report["handler_batch_cost"]))
    print(cold_start.describe(report["cold_start"]))
    print(
        "\n## 6. AWS cost per 1M orders (USD; prices as of "
        f"{report['configuration']['prices_as_of']})"
    )
    print(cost_table(rows))
    if report.get("scenarios"):
        print_stress(report)
    if report.get("family"):
        print("\n".join(family.report_lines(report["family"], table)))


def print_stress(report: dict[str, Any]) -> None:
    cap = report["capacity"]
    how = "given" if cap.get("given") else "found by bisection, 30 min windows"
    print(
        f"\n## 7. Stress scenarios (relay, default population, one 100 req/min key; largest "
        f"sustained load {cap['sustained_load']:.0f}/h, {how})"
    )
    print(stress_table(report["scenarios"]))


def stress_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        reasons = r["dead_letter_reasons"]
        out.append(
            [
                r["scenario"],
                f"{r['dead_lettered']} ({reasons.get('poison', 0)} poison, "
                f"{reasons.get('deadline', 0)} pending at deadline, "
                f"{r['unexpected_dead_letters']} other)",
                str(r["dead_lettered_completed_at_foxreload"]),
                str(r["duplicate_deliveries"]),
                str(r["backlog_at_recovery"]),
                hms(r["drain_seconds"]),
                hms(r["drain_bound_seconds"]),
                f"{fmt(r['drain_over_bound'])}x",
                hms(r["peak_backlog_age_seconds"]),
                str(r["open_at_end"]),
            ]
        )
    return table(
        [
            "scenario",
            "dead-lettered",
            "of them completed at FoxReload",
            "duplicates",
            "backlog at recovery",
            "drain time",
            "bound (backlog / 1.5 req/s)",
            "drain / bound",
            "peak backlog age",
            "still open",
        ],
        out,
    )


def hms(seconds: float) -> str:
    if seconds is None or math.isnan(seconds):
        return "not drained"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def throughput_table(rows: list[dict[str, Any]]) -> str:
    return table(
        [
            "orders/h",
            "policy",
            "delivered/h",
            "p99 time-to-deliver s",
            "req / delivered",
            "429s (% of req)",
            "backlog growth /h",
            "completed but DLQ'd",
            "lost",
            "sweep pages x period, horizon",
        ],
        [
            [
                str(r["load"]),
                r["mode"],
                f"{r['deliveries_per_hour']:.0f}",
                f"{fmt(r['time_to_deliver_p99'])}",
                f"{r['requests_per_delivered']:.2f}",
                f"{r['http_429']} ({100 * r['http_429_share']:.1f}%)",
                f"{r['backlog_growth_per_hour']:+.0f}",
                str(r["completed_but_dead_lettered"]),
                str(r["lost"]),
                (
                    f"{r['sweep_pages_per_sweep']:.1f} x {r['sweep_period']:.1f} s, "
                    f"{r['sweep_horizon']:.0f} s"
                )
                if r["sweep_period"]
                else "-",
            ]
            for r in rows
        ],
    )


def cost_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        us, eu = r["cost_per_million"]["us-east-1"], r["cost_per_million"]["eu-west-1"]
        u = r["usage_per_order"]
        out.append(
            [
                str(r["load"]),
                r["mode"],
                f"{u['api_requests']:.2f}",
                f"{u['sqs_requests']:.1f}",
                f"{u['ddb_writes']:.1f} / {u['ddb_reads']:.1f}",
                f"{u['lambda_gb_seconds']:.3f}",
                f"{us['lambda']:.2f}",
                f"{us['sqs']:.2f}",
                f"{us['dynamodb']:.2f}",
                f"{us['cloudwatch_logs']:.2f}",
                f"{us['total']:.2f}",
                f"{eu['total']:.2f}",
            ]
        )
    return table(
        [
            "orders/h",
            "policy",
            "API req/order",
            "SQS req/order",
            "DDB W / R per order",
            "GB-s/order",
            "Lambda $",
            "SQS $",
            "DynamoDB $",
            "Logs $",
            "total us-east-1 $",
            "total eu-west-1 $",
        ],
        out,
    )


if __name__ == "__main__":
    sys.exit(main())
