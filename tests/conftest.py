"""Shared test setup: make `relay` importable, keep AWS calls away from real accounts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "functions")):
    if path not in sys.path:
        sys.path.insert(0, path)

# Never reach a real AWS account from a test, whatever the developer's shell has configured.
for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - fake credentials for emulators
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "foxreload-relay")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FoxReloadRelay")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
