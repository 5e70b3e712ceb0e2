"""The population family: the adaptive-sweep targets checked on every member, seed alongside.

Per member (bench.population.FAMILY): the relay and the seed at 100, 1,000, 20,000 and 40,000
orders/hour on one 100 req/min key; the largest load the relay delivers with p99 <= 30 s on the
1,000 req/min enterprise tier (bisection); next to each load the fewest requests an hour that
can observe every completion (bench.bounds) and each policy's ratio to it; and PASS/FAIL per
target. Also a load curve on the default population (seed and relay, more loads) for the charts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import Any

from bench.bounds import list_requests_lower_bound, one_pass_list_requests, ratio_to_bound
from bench.costs import idle_cost_per_month
from bench.des import Environment, Mode, RunSpec
from bench.population import (
    DEFAULT,
    FAMILY,
    Population,
    RegimeChange,
    completion_quantiles,
)
from bench.run import run_one
from relay.domain.coverage import SweepConfig
from relay.domain.schedule import RelayPolicy, SeedPolicy

LOADS = (100, 1000, 20000, 40000)
STANDARD = 100  # req/min: FoxReload's standard tier, one key
ENTERPRISE = 1000  # req/min: the enterprise tier
REGION = "us-east-1"  # the region the cost targets are read in
IDLE_LIMIT_PER_MONTH = 1.0  # USD
# The load curve behind the charts (default population): the family's loads plus these.
CURVE_LOADS = {
    "seed": (2000, 3000, 5000, 10000),
    "relay": (2000, 5000, 10000, 25000, 30000, 35000),
}


def policies() -> tuple[Mode, Mode]:
    return Mode("seed", SeedPolicy()), Mode("relay", RelayPolicy(), sweep=SweepConfig())


@dataclass(frozen=True)
class FamilyConfig:
    """Simulated windows (seconds) and the enterprise search of one family run."""

    name: str
    low_measure: float  # at 100/h and 1,000/h
    high_measure: float  # at 2,000/h and above
    warmup: float = 900.0
    enterprise_start: float = 80000.0  # orders/h: first probe; doubled while it holds
    enterprise_resolution: float = 10000.0
    enterprise_max: float = 1_280_000.0  # orders/h: stop doubling here ("at least")
    enterprise_measure: float = 1200.0
    curve: bool = True
    members: tuple[str, ...] = field(default_factory=lambda: tuple(p.name for p in FAMILY))

    def measure(self, load: float) -> float:
        return self.low_measure if load <= 1000 else self.high_measure


CONFIGS = {
    # `make bench`: every member, windows long enough for a p99 at every load.
    "default": FamilyConfig(
        "default", low_measure=4 * 3600.0, high_measure=1200.0, enterprise_measure=600.0
    ),
    # --family-full: the main section's windows.
    "full": FamilyConfig(
        "full",
        low_measure=8 * 3600.0,
        high_measure=3600.0,
        enterprise_resolution=5000.0,
        enterprise_measure=1800.0,
    ),
    # --quick: a smoke check of the whole family.
    "quick": FamilyConfig(
        "quick",
        low_measure=3600.0,
        high_measure=600.0,
        enterprise_resolution=20000.0,
        enterprise_measure=600.0,
    ),
}


@dataclass(frozen=True)
class Task:
    kind: str  # "load" | "enterprise"
    member: str
    mode: Mode | None = None
    load: float = 0.0
    limit: int = STANDARD
    section: str = "family"


def population(name: str) -> Population:
    for p in FAMILY:
        if p.name == name:
            return p
    raise KeyError(name)


def completed_share(p: Population) -> float:
    base = p.before if isinstance(p, RegimeChange) else p
    return 1.0 - base.never_share - base.failed_share - base.cancelled_share


# The seed runs at every load on the default population and at the loads its targets name
# (100/h, 1,000/h) on the others: past ~5,000/h it only queues behind 429s (section 3), and
# those saturated runs would be most of the family's CPU time.
SEED_LOADS_OTHER_MEMBERS = (100, 1000)


def tasks(config: FamilyConfig) -> list[Task]:
    seed, relay = policies()
    out = [
        Task("load", member, mode, load)
        for member in config.members
        for load in LOADS
        for mode in (seed, relay)
        if mode is relay or member == DEFAULT.name or load in SEED_LOADS_OTHER_MEMBERS
    ]
    out += [Task("enterprise", member) for member in config.members]
    if config.curve and DEFAULT.name in config.members:
        for mode in (seed, relay):
            out += [
                Task("load", DEFAULT.name, mode, load, section="curve")
                for load in CURVE_LOADS[mode.name]
            ]
    return out


def cost_estimate(task: Task, config: FamilyConfig) -> float:
    """Rough CPU seconds, to start the longest first: a saturated seed retries 429s."""
    if task.kind == "enterprise":
        return 40.0 * config.enterprise_measure / 1200.0
    assert task.mode is not None
    per_hour = 0.5 if task.mode.name == "relay" else (0.1 if task.load <= 1000 else 2.5)
    return per_hour * task.load / 1000.0 * config.measure(task.load) / 3600.0 * 20.0


def load_row(task: Task, config: FamilyConfig, seed: int) -> dict[str, Any]:
    assert task.mode is not None
    spec = RunSpec(task.load, warmup=config.warmup, measure=config.measure(task.load), seed=seed)
    pop = population(task.member)
    row = run_one(task.mode, pop, Environment(limit_per_minute=task.limit), spec)
    completions = task.load * completed_share(pop)
    page = SweepConfig().page_limit
    bound = list_requests_lower_bound(completions, page)
    row.update(
        section=task.section,
        population=task.member,
        measure_seconds=spec.measure,
        completions_per_hour=completions,
        lower_bound_requests_per_hour=bound,
        one_pass_requests_per_hour=one_pass_list_requests(task.load, page),
        ratio_to_bound=ratio_to_bound(row["api_requests_per_hour"], bound),
        list_ratio_to_bound=ratio_to_bound(row["list_requests_per_hour"], bound),
    )
    if task.section == "curve" or task.load != 1000:
        row.pop("detection_lag_cdf", None)  # the CDF chart reads 1,000/h only
    return row


MIN_ENTERPRISE_PROBE = 1000.0  # orders/h

PROBE_KEYS = (
    "load",
    "holds",
    "time_to_deliver_p99",
    "http_429_share",
    "completed_but_dead_lettered",
    "lost",
    "sweep_horizon",
    "api_requests_per_hour",
)


def enterprise_capacity(member: str, config: FamilyConfig, seed: int) -> dict[str, Any]:
    """The largest load (to the resolution) with p99 time-to-deliver <= 30 s for the relay on
    one 1,000 req/min key: double from the start while it holds, then bisect."""
    _, relay = policies()
    pop = population(member)
    env = Environment(limit_per_minute=ENTERPRISE)
    probes: list[dict[str, Any]] = []
    step = config.enterprise_resolution

    def holds(load: float) -> bool:
        spec = RunSpec(load, warmup=config.warmup, measure=config.enterprise_measure, seed=seed)
        row = run_one(relay, pop, env, spec)
        row["holds"] = row["time_to_deliver_p99"] <= 30.0
        probes.append({k: row[k] for k in PROBE_KEYS})
        return bool(row["holds"])

    lo, hi = 0.0, config.enterprise_start
    while holds(hi):
        lo, hi = hi, 2 * hi
        if hi > config.enterprise_max:
            return {"largest_load": lo, "at_least": True, "probes": probes, "resolution": step}
    if lo == 0 and not holds(step):
        load = step / 2  # halve down to a load that holds
        while load >= MIN_ENTERPRISE_PROBE:
            if holds(load):
                return {
                    "largest_load": load,
                    "first_failing_load": 2 * load,
                    "probes": probes,
                    "resolution": load,
                }
            load /= 2
        return {"largest_load": 0.0, "below": 2 * load, "probes": probes, "resolution": step}
    lo = max(lo, step)
    while hi - lo > step:
        mid = step * round((lo + hi) / 2 / step)
        if mid in (lo, hi):
            break
        if holds(mid):
            lo = mid
        else:
            hi = mid
    return {"largest_load": lo, "first_failing_load": hi, "probes": probes, "resolution": step}


def _task(args: tuple[Task, FamilyConfig, int]) -> tuple[Task, dict[str, Any]]:
    task, config, seed = args
    started = time.process_time()
    if task.kind == "enterprise":
        out = enterprise_capacity(task.member, config, seed)
    else:
        out = load_row(task, config, seed)
    out["cpu_seconds"] = round(time.process_time() - started, 2)
    return task, out


def run_family(config: FamilyConfig, seed: int, processes: int = 2) -> dict[str, Any]:
    todo = sorted(tasks(config), key=lambda t: -cost_estimate(t, config))
    args = [(t, config, seed) for t in todo]
    if processes > 1:
        with get_context("fork").Pool(processes) as pool:
            done = pool.map(_task, args, chunksize=1)
    else:
        done = [_task(a) for a in args]
    rows = [r for t, r in done if t.kind == "load"]
    enterprise = {t.member: r for t, r in done if t.kind == "enterprise"}
    rows.sort(key=lambda r: (r["section"], r["population"], r["load"], r["mode"]))
    idle = {
        "relay": idle_cost_per_month(True, REGION),
        "seed": idle_cost_per_month(False, REGION),
    }
    members = []
    for name in config.members:
        pop = population(name)
        mine = [r for r in rows if r["section"] == "family" and r["population"] == name]
        members.append(
            {
                "name": name,
                "parameters": pop.describe(),
                "differs_from_default": differences(pop),
                "completion_seconds": completion_quantiles(pop),
                "rows": mine,
                "enterprise": enterprise[name],
                "targets": check_member(mine, enterprise[name], idle),
            }
        )
    return {
        "config": config.name,
        "windows": {
            "warmup_seconds": config.warmup,
            "measure_seconds_low_load": config.low_measure,
            "measure_seconds_high_load": config.high_measure,
            "enterprise_measure_seconds": config.enterprise_measure,
            "enterprise_resolution": config.enterprise_resolution,
        },
        "page_size": SweepConfig().page_limit,
        "cost_region": REGION,
        "idle_cost_per_month": idle,
        "members": members,
        "curve": [r for r in rows if r["section"] == "curve"]
        + [r for r in rows if r["section"] == "family" and r["population"] == DEFAULT.name],
    }


def differences(p: Population) -> dict[str, Any]:
    """What a member changes from the default mixture (the full parameters are in the JSON)."""
    if isinstance(p, RegimeChange):
        return {
            "switch": f"at {p.switch_fraction:g} of the measurement window",
            "before": p.before.name,
            "after": {"from": p.after.name, **differences(p.after)},
        }
    base = DEFAULT.describe()
    return {k: v for k, v in p.describe().items() if k != "name" and base.get(k) != v}


def cost(row: dict[str, Any]) -> float:
    return float(row["cost_per_million"][REGION]["total"])


def pareto_better(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """a is no worse than b on every axis (lower is better) and better on one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def check_member(
    rows: list[dict[str, Any]], enterprise: dict[str, Any], idle: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    at = {(r["load"], r["mode"]): r for r in rows}
    out: list[dict[str, Any]] = []

    def target(name: str, met: bool | None, value: str) -> None:
        out.append({"target": name, "met": met, "value": value})

    def get(load: int, mode: str) -> dict[str, Any] | None:
        return at.get((load, mode))

    relay, seed = get(1000, "relay"), get(1000, "seed")
    if relay and seed:
        axes = ("requests_per_delivered", "detection_lag_p99")
        a = (*(relay[k] for k in axes), cost(relay))
        b = (*(seed[k] for k in axes), cost(seed))
        target(
            "1000/h: relay Pareto-better than seed (req/delivered, p99 lag, $/1M)",
            pareto_better(a, b),
            f"req {a[0]:.2f} vs {b[0]:.2f}; p99 lag {fmt(a[1])} vs {fmt(b[1])} s; "
            f"${a[2]:.2f} vs ${b[2]:.2f}",
        )
    relay, seed = get(100, "relay"), get(100, "seed")
    if relay and seed:
        target(
            "100/h: relay $/1M <= seed's",
            cost(relay) <= cost(seed),
            f"${cost(relay):.2f} vs ${cost(seed):.2f} per 1M",
        )
    r_idle, s_idle = idle["relay"]["total"], idle["seed"]["total"]
    target("idle: relay $/month <= seed's", r_idle <= s_idle, f"${r_idle:.2f} vs ${s_idle:.2f}")
    target(
        f"idle: relay <= ${IDLE_LIMIT_PER_MONTH:g}/month",
        r_idle <= IDLE_LIMIT_PER_MONTH,
        f"${r_idle:.2f}",
    )

    def at_high_load(load: int, p99_limit: float, *, loss_and_throttling: bool) -> None:
        row = get(load, "relay")
        if not row:
            return
        p99 = row["time_to_deliver_p99"]
        target(
            f"{load}/h: p99 time-to-deliver <= {p99_limit:g} s", p99 <= p99_limit, f"{fmt(p99)} s"
        )
        if loss_and_throttling:
            target(f"{load}/h: 0 lost", row["lost"] == 0, str(row["lost"]))
        dead = row["completed_but_dead_lettered"]
        target(f"{load}/h: 0 completed orders dead-lettered", dead == 0, str(dead))
        if loss_and_throttling:
            share = row["http_429_share"]
            target(f"{load}/h: 429 < 1% of requests", share < 0.01, f"{100 * share:.2f} %")

    at_high_load(20000, 30, loss_and_throttling=True)
    at_high_load(40000, 60, loss_and_throttling=False)
    target(
        "enterprise (1000 req/min): largest load with p99 <= 30 s",
        None,
        enterprise_text(enterprise),
    )
    return out


def enterprise_text(e: dict[str, Any]) -> str:
    step = e["resolution"]
    if e["largest_load"] == 0:
        return f"< {e['below']:.0f}/h (p99 > 30 s at the lowest probe)"
    if e.get("at_least"):
        return f">= {e['largest_load']:.0f}/h (the search's ceiling)"
    return f"{e['largest_load']:.0f}/h (to {step:.0f}/h; {e['first_failing_load']:.0f}/h fails)"


def fmt(x: float, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


# -- the report -----------------------------------------------------------------------------
def describe_member(m: dict[str, Any]) -> str:
    diff = m["differs_from_default"]
    if not diff:
        what = "the default mixture (section 'Population model')"
    elif "switch" in diff:
        after = {k: v for k, v in diff["after"].items() if k != "from"}
        what = f"{diff['before']}, then {diff['after']['from']} {params(after)} {diff['switch']}"
    else:
        what = f"default with {params(diff)}"
    q = m["completion_seconds"]
    shape = (
        f"completed after p50 {q['p50']:.0f} s, p90 {q['p90']:.0f} s, p99 {q['p99']:.0f} s; "
        f"{100 * q['beyond_300s']:.1f} % after 300 s, {100 * q['beyond_900s']:.2f} % after 900 s"
    )
    return f"{what}\n  {shape}"


def span(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def params(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def member_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        out.append(
            [
                str(r["load"]),
                r["mode"],
                f"{r['deliveries_per_hour']:.0f}",
                fmt(r["time_to_deliver_p99"]),
                fmt(r["detection_lag_p99"]),
                f"{r['requests_per_delivered']:.2f}",
                f"{100 * r['http_429_share']:.1f}%",
                str(r["completed_but_dead_lettered"]),
                str(r["lost"]),
                f"{cost(r):.2f}",
                f"{r['api_requests_per_hour']:.0f}",
                f"{r['lower_bound_requests_per_hour']:.1f}",
                f"{fmt(r['ratio_to_bound'])}x",
            ]
        )
    return out


MEMBER_HEADERS = [
    "orders/h",
    "policy",
    "delivered/h",
    "p99 deliver s",
    "p99 lag s",
    "req/delivered",
    "429s",
    "completed DLQ'd",
    "lost",
    f"$/1M ({REGION})",
    "API req/h",
    "bound req/h",
    "x bound",
]


def report_lines(family: dict[str, Any], table: Any) -> list[str]:
    w = family["windows"]
    idle = family["idle_cost_per_month"]
    lines = [
        f"\n## 8. Population family ({family['config']} windows: warm-up "
        f"{span(w['warmup_seconds'])}, measured {span(w['measure_seconds_low_load'])} "
        f"at <= 1,000/h, {span(w['measure_seconds_high_load'])} above; one 100 req/min "
        f"key; enterprise 1,000 req/min by bisection to {w['enterprise_resolution']:.0f}/h, "
        f"{span(w['enterprise_measure_seconds'])} windows)",
        f"bound req/h = completions per hour / page size {family['page_size']} (bench/bounds.py); "
        f"x bound = the policy's API requests per hour / that bound",
        "idle $/month ("
        + REGION
        + "): relay "
        + ", ".join(f"{k} {v:.3f}" for k, v in idle["relay"].items())
        + "; seed "
        + ", ".join(f"{k} {v:.3f}" for k, v in idle["seed"].items()),
    ]
    for m in family["members"]:
        lines.append(f"\n### {m['name']}: {describe_member(m)}")
        lines.append(table(MEMBER_HEADERS, member_table(m["rows"])))
        lines.append(
            table(
                ["target", "result", "value"],
                [[t["target"], verdict(t["met"]), t["value"]] for t in m["targets"]],
            )
        )
    summary = []
    for m in family["members"]:
        judged = [t for t in m["targets"] if t["met"] is not None]
        failed = [t["target"] for t in judged if not t["met"]]
        summary.append(
            [m["name"], f"{len(judged) - len(failed)}/{len(judged)}", "; ".join(failed) or "-"]
        )
    lines.append("\n### Family summary")
    lines.append(table(["member", "targets met", "failed"], summary))
    return lines


def verdict(met: bool | None) -> str:
    return "reported" if met is None else "PASS" if met else "FAIL"


def smoke_config(members: tuple[str, ...] = ("default",)) -> FamilyConfig:
    """A few seconds: for tests."""
    return replace(
        CONFIGS["quick"],
        name="smoke",
        low_measure=600.0,
        high_measure=120.0,
        warmup=120.0,
        enterprise_start=20000.0,
        enterprise_resolution=20000.0,
        enterprise_max=40000.0,
        enterprise_measure=120.0,
        curve=False,
        members=members,
    )
