"""A stateful local Stripe speaking Stripe's HTTP API, so that the official SDK runs unchanged.

Its objects start from Stripe's own example objects (``fixtures3.json``, from stripe/openapi, MIT)
and carry at least their fields and types."""

from local.stripe_fake.app import StripeFake, sign_payload

__all__ = ["StripeFake", "sign_payload"]
