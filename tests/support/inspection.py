"""What an inspector of a provider fake found over the session: counts by kind and every departure
from the provider's own definitions (``tests/conftest.py`` fails a test that added one)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Inspection:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, found: list[str], counted: bool = True) -> None:
        """Exchanges arrive from the fake's server threads, hence the lock."""
        with self._lock:
            self.counts[kind] += counted
            self.problems += found
