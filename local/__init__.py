"""The local stack: provider fakes and the runner that serves the template's functions over HTTP."""

import sys
from pathlib import Path

# The shared layer, as Lambda puts it on the path (/opt/python): the runner shares its token checks.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "shared")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
