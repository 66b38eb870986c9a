"""Dealflow's benches: peers and baselines measured in the same run (see README.md here).

The package measured is this checkout's: its layer goes first on ``sys.path``, ahead of any
editable install of another checkout."""

import sys
from pathlib import Path

LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "shared" / "python")
if LAYER not in sys.path:
    sys.path.insert(0, LAYER)
