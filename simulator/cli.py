"""`python -m simulator`: run the FoxReload sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace

from simulator.config import DEFAULT_API_KEY, SimulatorConfig
from simulator.faults import PROFILES, profile
from simulator.server import FoxReloadSimulator
from simulator.timeline import TimingModel

TIMINGS = {"default": TimingModel, "fast": TimingModel.fast}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    p.add_argument("--time-scale", type=float, default=1.0, help="simulated s per real s")
    p.add_argument("--profile", default="none", choices=sorted(PROFILES), help="fault profile")
    p.add_argument("--timing", default="default", choices=sorted(TIMINGS), help="timing model")
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted X-API-Key (repeatable; default {DEFAULT_API_KEY})",
    )
    p.add_argument("--rate-limit", type=int, default=100, help="requests per minute per key")
    p.add_argument("--balance", type=float, default=10_000.0, help="initial account balance")
    p.add_argument("--v1-balance", action="store_true", help="serve the legacy GET /v1/balance")
    p.add_argument("--seed", type=int, default=None, help="make timelines/codes reproducible")
    p.add_argument("--log-requests", action="store_true", help="log request lines to stderr")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    config = SimulatorConfig(
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        faults=profile(args.profile),
        timing=TIMINGS[args.timing](),
        rate_limit_per_minute=args.rate_limit,
        initial_balance=args.balance,
        v1_balance=args.v1_balance,
        seed=args.seed,
        log_requests=args.log_requests,
    )
    if args.api_keys:
        config = replace(config, api_keys=tuple(args.api_keys))
    return config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        sim = FoxReloadSimulator(config).start()
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(
        f"FoxReload simulator on {sim.base_url}  (API key: {sim.api_key}, "
        f"time x{config.time_scale:g}, faults: {config.faults.name}, "
        f"openapi: {sim.base_url}/api/openapi.json, control: {sim.base_url}/_sim/stats)",
        flush=True,
    )
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
