"""One-off data migrations an operator runs against a stage's tables (``make migrate``): tools for a
developer's machine, not shipped in the functions' layer."""

import sys
from pathlib import Path

# The shared layer's package, importable as in Lambda (/opt/python) and as pytest's pythonpath sets it.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "shared")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
