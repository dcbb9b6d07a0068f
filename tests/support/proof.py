"""Figures the proof tests collect; `make proof` prints them as one table (benchmarks/proof_summary.py)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "proof.json"

_lock = threading.Lock()
figures: Counter[str] = Counter()


def add(name: str, amount: int = 1) -> None:
    with _lock:
        figures[name] += amount


def record_max(name: str, value: int) -> None:
    with _lock:
        figures[name] = max(figures[name], value)


def write() -> None:
    if figures:
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        ARTIFACT.write_text(json.dumps(dict(figures), indent=2, sort_keys=True))
