"""The relay's operator CLI: `python -m operator_cli [--env NAME | --local STATE_FILE] COMMAND`.

See docs/operator-cli.md. Commands live in `*_commands.py` modules (Typer), each exposing
`register(app)`; `operator_cli.cli.COMMAND_MODULES` lists them.
"""

import sys as _sys
from pathlib import Path as _Path

# The Lambda code (`relay`) lives under functions/; make it importable without PYTHONPATH.
_FUNCTIONS = str(_Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in _sys.path:
    _sys.path.append(_FUNCTIONS)
