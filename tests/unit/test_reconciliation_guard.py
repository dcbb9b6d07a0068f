"""The reconciliation's guard around one object's repair: a failure is counted and logged with the
object it was, and the run goes on; failures add up over a run (the report's ``failed`` feeds the
ReconciliationFailures alarm)."""

from __future__ import annotations

import pytest

from payments.domain.ports import StateChanged
from payments.domain.reconciliation import Reconciler, ReconciliationReport
from payments.errors import NotApplicable


def fails() -> None:
    raise NotApplicable("a person must settle this ticket")


def test_failures_add_up_and_each_is_logged_with_its_object(caplog: pytest.LogCaptureFixture) -> None:
    report = ReconciliationReport()
    for object_id in ("pi_1", "pi_2", "pi_3"):
        assert Reconciler._guarded(report, "payment", object_id, fails) is None
    assert (report.failed, report.skipped) == (3, 0)
    logged = [
        (r.getMessage(), getattr(r, "kind", None), getattr(r, "object_id", None))
        for r in caplog.records
        if r.getMessage().startswith("Reconciliation")
    ]
    assert logged == [("Reconciliation could not settle an object", "payment", object_id) for object_id in ("pi_1", "pi_2", "pi_3")]


def test_an_object_that_moved_on_is_skipped_and_a_repair_answers_what_it_did() -> None:
    report = ReconciliationReport()

    def moved() -> None:
        raise StateChanged()

    assert Reconciler._guarded(report, "ticket", "7", moved) is None
    assert Reconciler._guarded(report, "ticket", "8", lambda: "repaired") == "repaired"
    assert (report.failed, report.skipped) == (0, 1)
