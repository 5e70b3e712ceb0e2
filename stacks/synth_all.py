"""Synthesize every environment in cdk.json into cdk.out/<env>/ (what `make synth` runs).

No Docker and no AWS credentials: the Lambda asset is bundled locally (stacks/bundling.py) and
nothing is looked up (an environment without an account is synthesized for CDK_DEFAULT_ACCOUNT,
or account-agnostic when that is unset).

    python -m stacks.synth_all [--out DIR] [--env NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stacks.application import build_app
from stacks.config import ROOT, load_context


def environment_names() -> list[str]:
    return sorted(load_context()["relay:environments"])


def synth_all(out: Path, names: Sequence[str] | None = None) -> dict[str, Path]:
    """Synthesize each environment into out/<env>/; returns each stack's template path."""
    templates: dict[str, Path] = {}
    for name in names or environment_names():
        app, stack = build_app(name, outdir=out / name)
        app.synth()
        templates[name] = out / name / stack.template_file
    return templates


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "cdk.out", help="default: cdk.out")
    parser.add_argument("--env", action="append", help="only this environment (repeatable)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    for name, template in synth_all(args.out, args.env).items():
        sys.stdout.write(f"{name}: {template}\n")
    sys.stdout.write(f"synthesized in {time.monotonic() - started:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
