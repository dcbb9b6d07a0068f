"""Business metrics: what each audit action counts, and that the table names actions the code has."""

import re
from pathlib import Path

import pytest

from payments import metrics

LAYER = Path(metrics.__file__).resolve().parent


def audited_actions() -> tuple[set[str], set[str]]:
    """The audit actions written in the layer's code: literal ones, and the prefixes of built ones."""
    source = "\n".join(path.read_text() for path in LAYER.rglob("*.py"))
    literal = set(re.findall(r'audit\(\s*"([a-z_.]+)"', source))
    built = set(re.findall(r'audit\(\s*f"([a-z_.]+)\{', source))
    return literal, built


def test_every_metric_is_counted_from_an_audit_action_the_code_writes():
    literal, built = audited_actions()
    for action in [*metrics.FROM_AUDIT, "paypal.order_captured"]:
        assert action in literal or any(action.startswith(prefix) for prefix in built), action


@pytest.fixture
def counted(monkeypatch):
    recorded: list[tuple[str, int]] = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1: recorded.append((name, value)))
    return recorded


@pytest.mark.parametrize(
    ("action", "fields", "expected"),
    [
        ("ticket.issued_free", {"quantity": 3}, [("TicketsSold", 1), ("SeatsSold", 3)]),
        ("ticket.paid", {"quantity": 2}, [("TicketsSold", 1), ("SeatsSold", 2), ("PaymentsSucceeded", 1)]),
        ("ticket.refunded", {"reason": "requested_by_staff"}, [("Refunds", 1)]),
        ("ticket.refunded", {"reason": metrics.LATE_PAYMENT_REASON}, [("Refunds", 1), ("LatePaymentRefunds", 1)]),
        ("ticket.checked_in", {"count": 4}, [("CheckIns", 4)]),
        ("paypal.order_captured", {"status": "COMPLETED"}, [("PaymentsSucceeded", 1)]),
        ("paypal.order_captured", {"status": "PENDING"}, []),
        ("stripe.dispute_opened", {}, [("Disputes", 1)]),
        ("ticket.checkout_started", {"amount": 5000}, []),
    ],
)
def test_each_audit_action_counts_its_metrics(counted, action, fields, expected):
    metrics.from_audit(action, fields)
    assert counted == expected
