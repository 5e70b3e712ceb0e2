"""`make demo`: the relay end to end on this machine, then a report. Exit 1 if an order was lost
or delivered twice (or delivered with the wrong codes).

    python -m local_stack.demo [--orders 200] [--profile none] [--time-scale 10] [--pollers N]
                               [--no-sweep | --compare]

See docs/local-stack.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.emulators import EmulatorUnavailable
from local_stack.scenario import (
    Progress,
    Report,
    build_report,
    counters,
    place_orders,
    wait_for_outcomes,
)
from local_stack.stack import DEFAULT_STATE_FILE, LocalStack, LocalStackOptions
from relay.adapters.spend_index import SpendIndex
from simulator import PROFILES

BAR_WIDTH = 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m local_stack.demo", description=__doc__.split("\n")[0]
    )
    p.add_argument("--orders", type=int, default=200, help="how many orders (default 200)")
    p.add_argument(
        "--profile", default="none", choices=sorted(PROFILES), help="FoxReload fault profile"
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="simulated FoxReload seconds per real second (default 10)",
    )
    p.add_argument(
        "--pollers",
        type=int,
        default=None,
        help="concurrent pollers (default: the environment's maxConcurrency in cdk.json)",
    )
    p.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="FoxReload requests per simulated minute for the relay's key; the relay's budget "
        "follows it (default: the environment's rateLimitPerMinute in cdk.json)",
    )
    sweep = p.add_mutually_exclusive_group()
    sweep.add_argument(
        "--no-sweep",
        action="store_true",
        help="per-order polls only: no sweeper, SWEEP_ENABLED=false (default: cdk.json)",
    )
    sweep.add_argument(
        "--compare",
        action="store_true",
        help="run twice on fresh stacks, with the sweep and without, and compare",
    )
    p.add_argument("--env", default=None, help="cdk.json environment for settings (default: dev)")
    p.add_argument("--seed", type=int, default=None, help="make the simulator reproducible")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="give up waiting after this many seconds (default: the deadline + 60)",
    )
    p.add_argument("--report-json", type=Path, help="also write the report here as JSON")
    p.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help="where the operator CLI finds this stack while it runs",
    )
    args = p.parse_args(argv)
    if args.orders < 1 or args.time_scale <= 0:
        p.error("--orders must be >= 1 and --time-scale > 0")
    return args


class ProgressLine:
    """A single updating line on a terminal; a plain line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self._last_plain = 0.0

    def __call__(self, p: Progress) -> None:
        done = p.delivered + p.failed_or_cancelled
        filled = int(BAR_WIDTH * done / p.total) if p.total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = (
            f"[{bar}] delivered {p.delivered}  failed/cancelled {p.failed_or_cancelled}  "
            f"in-flight {p.in_flight}  DLQ {p.dlq}  {p.elapsed:5.1f}s"
        )
        if self.tty:
            sys.stdout.write("\r" + text + "\033[K")
            sys.stdout.flush()
        elif time.monotonic() - self._last_plain >= 5:
            self._last_plain = time.monotonic()
            print(text, flush=True)

    def end(self) -> None:
        if self.tty:
            sys.stdout.write("\n")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def print_report(report: Report, extra: dict[str, Any]) -> None:
    data = report.to_json()
    print()
    print("FoxReload relay demo: report")
    print(f"  orders sent            {report.sent}")
    for outcome, count in report.outcomes.items():
        print(f"    {outcome:<20} {count}")
    print(f"  orders lost            {len(report.lost)}   (must be 0)")
    print(f"  duplicate deliveries   {report.duplicate_deliveries}   (must be 0)")
    print(f"  wrong codes delivered  {len(report.code_mismatches)}   (must be 0)")
    lag = data["deliveryLagSeconds"]
    ttd = data["timeToDeliverSeconds"]
    print(
        "  delivery lag           "
        f"p50 {_fmt(lag['p50'])}  p95 {_fmt(lag['p95'])}  p99 {_fmt(lag['p99'])}"
        "   (FoxReload terminal -> storefront accepted)"
    )
    print(
        "  time to deliver        "
        f"p50 {_fmt(ttd['p50'])}  p95 {_fmt(ttd['p95'])}  p99 {_fmt(ttd['p99'])}"
        "   (message sent -> storefront accepted)"
    )
    per_delivered = report.requests_per_delivered
    print(
        f"  API requests per order {report.requests_per_order:.2f}"
        f"   ({report.api_requests} relay requests: {report.order_gets} order GETs, "
        f"{report.sweep_requests} sweep list pages; "
        f"{'-' if per_delivered is None else f'{per_delivered:.2f}'} per delivered order)"
    )
    print(
        f"  429s (rate limited)    {report.rate_limited}"
        f"   ({100 * report.rate_limited_share:.2f}% of the relay's requests)"
    )
    print(
        f"  sweep deferrals        {report.deferrals}"
        "   (per-order polls skipped: the sweep covered the order)"
    )
    print(f"  budget waits           {report.budget_waits}   (polls postponed for a token)")
    if report.faults:
        print(f"  injected faults        {report.faults}")
    for letter in report.dead_letters:
        print(
            f"  dead letter            {letter['order_id']}: {letter['reason']}"
            f" ({letter['detail']})"
        )
    for key, value in extra.items():
        print(f"  {key:<22} {value}")
    if report.lost:
        print(f"  LOST: {', '.join(report.lost)}")
    if report.timed_out:
        print("  NOTE: stopped waiting at the timeout; unfinished orders count as lost")
    print("  result                 " + ("OK" if report.ok else "FAILED"))


@dataclass
class Run:
    sweep: bool
    report: Report
    processing: float
    extra: dict[str, Any]


def run_once(args: argparse.Namespace, sweep: bool) -> Run:
    wall = time.monotonic()
    options = LocalStackOptions(
        env_name=args.env,
        time_scale=args.time_scale,
        rate_limit_per_minute=args.rate_limit,
        sweep=sweep,
        seed=args.seed,
        allow_moto_dynamodb=True,
    )
    print("starting the local stack (moto, DynamoDB Local, FoxReload simulator, storefront)...")
    with LocalStack(options) as stack:
        for notice in stack.notices:
            print(notice)
        state = stack.write_state(args.state_file)
        assert stack.simulator is not None and stack.resources is not None
        print(f"  FoxReload simulator  {stack.simulator.base_url}  (x{args.time_scale:g} time)")
        print(f"  storefront webhook   {stack.receiver.url if stack.receiver else '-'}")
        print(f"  orders queue         {stack.resources.orders_queue_url}")
        print(f"  logs                 {stack.log_dir}")
        print(f"  operator CLI         python -m operator_cli --local {state} dlq list")
        stack.set_fault_profile(args.profile)
        esm = stack.esm_config(pollers=args.pollers)
        deadline = float(esm.env["GIVE_UP_AFTER_SECONDS"])
        budget = float(esm.env["FOXRELOAD_RATE_LIMIT_PER_MINUTE"])
        print(
            f"  rate limit           {stack.rate_limit_per_minute}/simulated min at the "
            f"simulator; relay budget {budget:g}/min (real)"
        )
        print(
            f"starting {esm.pollers} pollers (batch {esm.batch_size}, window "
            f"{esm.batching_window_seconds:g}s, deadline {deadline:g}s), fault profile "
            f"'{args.profile}', sweeper "
            + (
                f"on ({stack.options.sweeper_timeout_seconds:g}s invocations, back to back)"
                if stack.sweeper
                else "off"
            )
            + "..."
        )
        with stack.runner(pollers=esm.pollers) as runner:
            if not runner.wait_ready(timeout=120):
                raise RuntimeError("the pollers did not start within 120 s")
            if stack.sweeper is not None and not stack.sweeper.wait_ready(timeout=120):
                raise RuntimeError("the sweeper did not start within 120 s")
            print(f"placing {args.orders} orders as a storefront (create + pay + SendMessage)...")
            before = counters(stack)
            money_before = stack.simulator.stats_snapshot()
            spend_from = time.time()
            started = time.monotonic()
            sent = place_orders(stack, args.orders, seed=args.seed or 7)
            progress = ProgressLine()
            finished = wait_for_outcomes(
                stack,
                sent,
                timeout=args.timeout or deadline + 60,
                on_progress=progress,
                started=started,
            )
            progress.end()
            processing = time.monotonic() - started
            # the report's counts end here (a stopped sweeper makes no more requests)
            sweeper_stats = stack.sweeper.stats() if stack.sweeper else None
            stack.stop_sweeper()
            report = build_report(
                stack,
                sent,
                wall_seconds=time.monotonic() - wall,
                timed_out=not finished,
                since=before,
            )
            runner_stats = runner.stats()
            spend = spend_line(stack, money_before, spend_from)
    extra = {
        "processing time": f"{processing:.1f}s (first order placed -> all accounted for)",
        "wall time": f"{time.monotonic() - wall:.1f}s (incl. start-up and order creation)",
        "spend": spend,
        "poller invocations": f"{runner_stats.invocations} ({runner_stats.records} records, "
        f"{runner_stats.batch_errors} failed batches, {runner_stats.over_timeout} over the "
        "function timeout)",
        "sweeper": "off"
        if sweeper_stats is None
        else f"on: {sweeper_stats.invocations} invocations completed ({sweeper_stats.errors} "
        f"raised; one runs {options.sweeper_timeout_seconds:g}s), stopped with the run",
    }
    return Run(sweep, report, processing, extra)


def print_comparison(runs: list[Run]) -> None:
    print()
    print("with and without the sweep (same orders, same seed, fresh stacks)")
    rows: list[tuple[str, Callable[[Run], str]]] = [
        ("delivered", lambda r: str(r.report.outcomes["delivered"])),
        ("lost / duplicates", lambda r: f"{len(r.report.lost)} / {r.report.duplicate_deliveries}"),
        ("API requests / order", lambda r: f"{r.report.requests_per_order:.2f}"),
        ("sweep list pages", lambda r: str(r.report.sweep_requests)),
        ("order GETs", lambda r: str(r.report.order_gets)),
        ("429s", lambda r: f"{r.report.rate_limited} ({100 * r.report.rate_limited_share:.2f}%)"),
        ("sweep deferrals", lambda r: str(r.report.deferrals)),
        ("lag p50/p95/p99", lambda r: _lags(r.report)),
        ("processing time", lambda r: f"{r.processing:.1f}s"),
    ]
    header = ["", *("sweep" if r.sweep else "no sweep" for r in runs)]
    table = [header] + [[name, *(cell(r) for r in runs)] for name, cell in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  " + "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _lags(report: Report) -> str:
    lag = report.to_json()["deliveryLagSeconds"]
    return " / ".join(_fmt(lag[p]) for p in ("p50", "p95", "p99"))


def run(args: argparse.Namespace) -> int:
    modes = [True, False] if args.compare else [not args.no_sweep]
    runs: list[Run] = []
    for sweep in modes:
        if len(modes) > 1:
            print(f"=== {'with' if sweep else 'without'} the sweep ===")
        result = run_once(args, sweep)
        print_report(result.report, result.extra)
        runs.append(result)
    if len(runs) > 1:
        print_comparison(runs)
    if args.report_json:
        payloads = [
            r.report.to_json() | {"sweep": r.sweep, "processingSeconds": round(r.processing, 1)}
            for r in runs
        ]
        payload = payloads[0] if len(runs) == 1 else payloads
        args.report_json.write_text(json.dumps(payload, indent=2))
    return 0 if all(r.report.ok for r in runs) else 1


def spend_line(stack: LocalStack, before: dict[str, Any], since: float) -> str:
    """What the balance monitor would count for this run (the ledger's spend index) beside what
    the simulator debited: the relay counts failed orders as spent, the simulator refunds them."""
    assert stack.simulator is not None and stack.resources is not None
    now = time.time()
    index = SpendIndex(stack.client("dynamodb"), stack.resources.ledger_table, keep_sums=False)
    recorded = index.spend_between(since - 1, now, now)
    after = stack.simulator.stats_snapshot()
    debited = after["spent"] - before["spent"]
    refunded = after["refunded"] - before["refunded"]
    return (
        f"{recorded:.2f} recorded by the relay (balance monitor's view); simulator debited "
        f"{debited:.2f}, refunded {refunded:.2f} (the relay counts failed orders as spent: "
        "it cannot see refunds)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (CI cancel, `kill`) unwinds like Ctrl-C, so every server and process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except EmulatorUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; everything was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
