"""X-Ray instruments the AWS SDK only: no X-Amzn-Trace-Id on requests to FoxReload or the
storefront. Checked in a fresh interpreter with tracing enabled as on Lambda."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json
from aws_xray_sdk.core import patcher
import relay.handlers.poller, relay.handlers.sweeper
import relay.handlers.balance_monitor, relay.handlers.stuck_monitor
relay.handlers.poller.traced_handler()  # the poller builds its tracer on its first invocation
print(json.dumps(sorted(patcher._PATCHED_MODULES)))
"""


def test_handlers_patch_botocore_and_nothing_that_talks_to_third_parties():
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'functions'}",
        "AWS_LAMBDA_FUNCTION_NAME": "poller",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    patched = json.loads(out.stdout.strip().splitlines()[-1])
    assert "botocore" in patched  # tracing is really on in this interpreter
    assert "httpx" not in patched
    assert not {"requests", "httplib"} & set(patched)
