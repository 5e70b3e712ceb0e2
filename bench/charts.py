"""The charts in docs/performance.md, drawn from a bench report (PNG, matplotlib's Agg backend).

- throughput.png: delivered/h and p99 time-to-deliver against offered load, per policy
- lag_cdf.png: the detection-lag CDF of every policy at 1,000 orders/h
- cost.png: AWS cost per 1M orders against offered load, per policy

Loads come from the family's load curve (seed and relay on the default population) and from the
main section's runs (every policy at 1,000, 5,000 and 20,000/h). A p99 that is infinite (more
than 1 % of completions dead-lettered) or beyond the chart is drawn at its top edge as a cross.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, the same output on every machine

import matplotlib.pyplot as plt

P99_CEILING = 3600.0  # seconds: the chart's top; longer (or never) is drawn there
REGION = "us-east-1"
STYLE = {
    "seed": ("tab:red", "o"),
    "foxreload-docs": ("tab:orange", "s"),
    "relay-per-order": ("tab:purple", "^"),
    "relay-per-order+budget": ("tab:brown", "v"),
    "relay": ("tab:blue", "D"),
}


def num(value: Any) -> float:
    """A number from the in-memory report or from its JSON (where inf is the string "inf")."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return math.inf if value == "inf" else float(value)
    return float(value)


def by_policy(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows on the default population and one 100 req/min key, per policy, by load."""
    rows = [r for r in report.get("runs", []) if r.get("section") == "main"]
    rows += (report.get("family") or {}).get("curve", [])
    out: dict[str, dict[float, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        if r.get("limit_per_minute", 100) != 100:
            continue
        out[r["mode"]].setdefault(num(r["load"]), r)  # the main section's row first
    return {mode: [loads[k] for k in sorted(loads)] for mode, loads in out.items()}


def style(mode: str) -> dict[str, Any]:
    color, marker = STYLE.get(mode, ("tab:gray", "."))
    return {"color": color, "marker": marker, "label": mode}


def throughput(report: dict[str, Any], path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    highest = 0.0
    for mode, rows in by_policy(report).items():
        loads = [num(r["load"]) for r in rows]
        highest = max(highest, *loads)
        top.plot(loads, [num(r["deliveries_per_hour"]) for r in rows], **style(mode))
        p99 = [num(r["time_to_deliver_p99"]) for r in rows]
        shown = [min(v, P99_CEILING) for v in p99]
        bottom.plot(loads, shown, **style(mode))
        clipped = [(x, P99_CEILING) for x, v in zip(loads, p99, strict=True) if v > P99_CEILING]
        if clipped:
            xs, ys = zip(*clipped, strict=True)
            bottom.scatter(xs, ys, marker="x", s=80, color=style(mode)["color"], zorder=3)
    top.plot([50, highest], [50, highest], ls=":", color="gray", label="offered")
    top.set_xscale("log")  # both cliffs: the seed's near 2,000/h, the relay's near 30,000/h
    top.set_yscale("log")
    top.set_ylabel("delivered completed orders / h")
    top.set_title("Throughput on one 100 req/min key (default population)")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_yscale("log")
    bottom.axhline(30, ls="--", color="gray", lw=1)
    bottom.text(100, 32, "30 s", color="gray", fontsize=8)
    bottom.set_ylabel(f"p99 time-to-deliver, s (x: >= {P99_CEILING:.0f} s or never)")
    bottom.set_xlabel("offered orders / h")
    bottom.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def lag_cdf(report: dict[str, Any], path: Path, load: float = 1000) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for mode, rows in by_policy(report).items():
        row = next((r for r in rows if num(r["load"]) == load and r.get("detection_lag_cdf")), None)
        if row is None:
            continue
        pairs = [(num(v), num(q) / 100.0) for q, v in row["detection_lag_cdf"]]
        pairs = [(max(v, 0.01), q) for v, q in pairs if math.isfinite(v)]
        if pairs:
            xs, ys = zip(*pairs, strict=True)
            ax.step(xs, ys, where="post", color=style(mode)["color"], label=mode)
    ax.set_xscale("log")
    ax.set_xlabel("detection lag, s (completion -> the request that saw it)")
    ax.set_ylabel("share of completed orders")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"Detection lag CDF at {load:,.0f} orders/h (default population)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cost(report: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for mode, rows in by_policy(report).items():
        loads = [num(r["load"]) for r in rows]
        dollars = [num(r["cost_per_million"][REGION]["total"]) for r in rows]
        ax.plot(loads, dollars, **style(mode))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered orders / h")
    ax.set_ylabel(f"USD per 1M orders ({REGION})")
    ax.set_title("AWS cost per 1M orders (bench/costs.py; one 100 req/min key)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the three charts into out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "throughput.png", out_dir / "lag_cdf.png", out_dir / "cost.png"]
    throughput(report, paths[0])
    lag_cdf(report, paths[1])
    cost(report, paths[2])
    return paths


if __name__ == "__main__":  # redraw from a saved report: python -m bench.charts latest.json DIR
    import json
    import sys

    saved = json.loads(Path(sys.argv[1]).read_text())
    for written in render(saved, Path(sys.argv[2])):
        print(f"wrote {written}")
