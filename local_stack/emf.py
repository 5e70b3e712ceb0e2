"""Read the relay's own metrics back from the local functions' logs.

On Lambda, Powertools writes metrics as CloudWatch embedded metric format (EMF) JSON lines to
stdout and CloudWatch Logs turns them into metrics. The local runners send each function's
stdout to a log file, so summing the EMF values there gives what CloudWatch would have counted
(for example SweepDeferrals: per-order polls skipped because the sweep covered the order).
Metrics are flushed at the end of each invocation: a sweeper invocation's only when it ends.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path


def metric_totals(paths: Iterable[Path]) -> Counter[str]:
    """Sum of every EMF metric value in these log files, by metric name."""
    totals: Counter[str] = Counter()
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            try:
                blob = json.loads(line)
                directives = blob["_aws"]["CloudWatchMetrics"]
            except (ValueError, KeyError, TypeError):
                continue  # a line still being written, or not EMF
            for directive in directives:
                for metric in directive.get("Metrics", []):
                    value = blob.get(metric.get("Name"))
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] += sum(
                        float(v) for v in values if isinstance(v, int | float)
                    )
    return totals


def function_logs(log_dir: Path) -> list[Path]:
    """The pollers' and the sweeper's log files under a local stack's log directory."""
    return sorted(log_dir.glob("pollers/*.log")) + sorted(log_dir.glob("sweeper/*.log"))
