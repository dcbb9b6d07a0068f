"""Figures the proof tests collect; `make proof` prints them as one table (benchmarks/proof_summary.py)."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "proof.json"

_lock = threading.Lock()
figures: Counter[str] = Counter()
_maxima: set[str] = set()


def add(name: str, amount: int = 1) -> None:
    with _lock:
        figures[name] += amount


def record_max(name: str, value: int) -> None:
    with _lock:
        _maxima.add(name)
        figures[name] = max(figures[name], value)


def attack_family() -> str:
    """The running test's function name: the attack family its figures are counted under."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "unknown")
    return current.split("::")[-1].split(" ")[0].split("[")[0]


def write() -> None:
    """Adds this run's figures to the artifact: `make proof` runs pytest more than once."""
    if figures:
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        total = Counter(json.loads(ARTIFACT.read_text())) if ARTIFACT.exists() else Counter()
        for name, value in figures.items():
            total[name] = max(total[name], value) if name in _maxima else total[name] + value
        ARTIFACT.write_text(json.dumps(dict(total), indent=2, sort_keys=True))
