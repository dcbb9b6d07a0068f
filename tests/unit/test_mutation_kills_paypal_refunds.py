"""A PayPal refund the capture's counters refuse (``NotRefundable``) says why in its message: the
reason given (a capture not recorded, one already refunded), else that not enough remains. The
message is what the logs show when one escapes to the handler (``http``'s "Unhandled error")."""

from __future__ import annotations

from payments.domain.paypal_refunds import NotRefundable


def test_a_refusal_without_a_reason_says_not_enough_remains():
    refused = NotRefundable(600)
    assert (str(refused), refused.remaining_minor, refused.reason) == ("not enough remains refundable", 600, None)


def test_a_refusal_with_a_reason_says_that_reason():
    refused = NotRefundable(0, "capture cap_1 is not recorded")
    assert (str(refused), refused.reason) == ("capture cap_1 is not recorded", "capture cap_1 is not recorded")


def test_a_refund_of_nothing_says_so():
    import pytest

    from payments.domain.paypal_refunds import PayPalRefund
    from payments.errors import NotApplicable

    for value in ("0.00", "-1.00"):
        with pytest.raises(NotApplicable) as refused:
            PayPalRefund.from_paypal({"id": "R1", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": value}}, "CAP1", "USD")
        assert str(refused.value) == "Refund amount is not greater than zero"
