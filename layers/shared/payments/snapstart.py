"""Lambda SnapStart: work done before the snapshot is not repeated at each cold start.

Only what is safe to freeze is done there: creating SDK clients (SnapStart gives the runtime
refreshing container credentials). Secrets and provider tokens are fetched after restore, on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def before_snapshot(prepare: Callable[[], Any]) -> None:
    """Runs ``prepare`` before Lambda takes the snapshot, when SnapStart is on; otherwise does nothing."""
    try:
        from snapshot_restore_py import register_before_snapshot  # in Lambda's managed Python runtimes
    except ImportError:
        return
    register_before_snapshot(prepare)
