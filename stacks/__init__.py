"""CDK wiring for the relay. `functions/` goes on sys.path so `relay.*` imports resolve."""

import sys
from pathlib import Path

_FUNCTIONS = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.append(_FUNCTIONS)
