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
