"""The relay on one machine: emulators, simulator, storefront receiver, event source runner.

See docs/local-stack.md. Entry points: `python -m local_stack` (start and keep running),
`python -m local_stack.demo` (`make demo`).
"""

import sys as _sys
from pathlib import Path as _Path

# The Lambda code (`relay`) lives under functions/; make it importable without PYTHONPATH.
_FUNCTIONS = str(_Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in _sys.path:
    _sys.path.append(_FUNCTIONS)
