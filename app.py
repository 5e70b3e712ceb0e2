#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c env=prod`, `cdk deploy -c env=dev`, or plain `python app.py`.

Synthesizes the one stack `FoxReloadRelay-<env>` for the environment chosen with `-c env=NAME`
(default: cdk.json's `relay:defaultEnvironment`), with cdk-nag AwsSolutions checks on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for path in (ROOT, ROOT / "functions"):  # `stacks.*` and the Lambda code's `relay.*`
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from stacks.application import build_app  # noqa: E402


def main() -> None:
    # Under the CDK CLI, CDK_OUTDIR says where to write; run by hand, write cdk.out like the CLI.
    outdir = None if os.environ.get("CDK_OUTDIR") else ROOT / "cdk.out"
    app, stack = build_app(outdir=outdir)
    assembly = app.synth()
    if outdir is not None:
        sys.stdout.write(f"{stack.stack_name}: {Path(assembly.directory) / stack.template_file}\n")


if __name__ == "__main__":
    main()
