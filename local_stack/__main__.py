"""`python -m local_stack`: start the whole local stack and keep it running until Ctrl-C.

Writes a state file (endpoints, queue URLs, table, simulator and receiver URLs) for
`python -m operator_cli --local STATE_FILE ...`, and runs the pollers unless --no-pollers and
the completion sweeper when cdk.json enables it, unless --no-sweep.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from local_stack.emulators import EmulatorUnavailable
from local_stack.stack import DEFAULT_STATE_FILE, STOREFRONT_API_KEY, LocalStack, LocalStackOptions
from simulator import PROFILES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__.split("\n")[0])
    p.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    p.add_argument("--time-scale", type=float, default=1.0, help="simulated s per real s (1)")
    p.add_argument("--profile", default="none", choices=sorted(PROFILES), help="fault profile")
    p.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="relay key requests per simulated minute (default: cdk.json rateLimitPerMinute)",
    )
    p.add_argument("--pollers", type=int, default=None, help="default: cdk.json maxConcurrency")
    p.add_argument("--no-pollers", action="store_true", help="do not run the poller handler")
    p.add_argument(
        "--no-sweep",
        action="store_true",
        help="no completion sweeper, SWEEP_ENABLED=false (default: cdk.json sweepEnabled)",
    )
    p.add_argument("--env", default=None, help="cdk.json environment (default: dev)")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options = LocalStackOptions(
        env_name=args.env,
        time_scale=args.time_scale,
        rate_limit_per_minute=args.rate_limit,
        sweep=False if args.no_sweep else None,
        allow_moto_dynamodb=True,
        receiver_log=True,
    )
    try:
        with LocalStack(options) as stack:
            for notice in stack.notices:
                print(notice)
            stack.set_fault_profile(args.profile)
            state = stack.write_state(args.state_file)
            assert stack.simulator is not None and stack.receiver is not None
            print(
                f"FoxReload simulator   {stack.simulator.base_url}  (storefront key "
                f"{STOREFRONT_API_KEY!r}; sandbox control at /_sim/)"
            )
            print(f"storefront receiver   {stack.receiver.url}")
            print(f"AWS endpoints         {stack.emulators.endpoints()}")
            print(f"logs                  {stack.log_dir}")
            print(
                "sweeper               "
                + ("running (invoked back to back)" if stack.sweeper else "off")
            )
            print(f"state file            {state}")
            print(f"try: python -m operator_cli --local {state} dlq list")
            if not args.no_pollers:
                runner = stack.runner(pollers=args.pollers)
                runner.wait_ready(timeout=120)
                print(f"{runner.config.pollers} pollers running; Ctrl-C stops everything")
            threading.Event().wait()
    except EmulatorUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
