"""A stateful local PayPal speaking the Orders v2, Payments v2 and webhook-verification APIs, with
an approval page; its requests and answers are checked against PayPal's OpenAPI descriptions."""

from local.paypal_fake.app import PayPalFake

__all__ = ["PayPalFake"]
