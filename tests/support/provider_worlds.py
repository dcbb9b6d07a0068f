"""Stripe Checkout as a contract test drives it, over each implementation of the port: the real
gateway against the local Stripe (what happens at Stripe without our API through the fake's
controls), or the in-process stub the life-cycle rows use (``tests.support.lifecycle_world.Stripe``,
through its own controls). ``tests/contract/test_provider_contract.py`` holds both to one contract."""

from __future__ import annotations

from typing import Protocol

from local.stripe_fake import StripeFake
from payments.domain.ports import StripeCheckout
from payments.providers.stripe_gateway import StripeGateway
from tests.support.lifecycle_world import NOW, Stripe


class CheckoutWorld(Protocol):
    checkout: StripeCheckout

    def now(self) -> int:
        """Stripe's time, for ``expires_at``."""
        ...

    def pass_time(self, seconds: int) -> None:
        """Stripe's time moves on (and expires the sessions whose time is up)."""
        ...

    def pay(self, session_id: str) -> str:
        """The customer pays on the Checkout page: the payment intent."""
        ...

    def debit(self, session_id: str) -> str:
        """The customer pays with a delayed method (a bank debit): the payment intent, processing."""
        ...

    def settle_debit(self, session_id: str, succeeded: bool) -> None: ...

    def refund_elsewhere(self, payment_intent: str, amount: int | None = None) -> str:
        """A refund made in the Dashboard (no metadata of ours): its id."""
        ...

    def fail_refund(self, refund_id: str) -> None:
        """The card's bank returns a refund that had succeeded."""
        ...

    def dispute(self, payment_intent: str) -> str:
        """The customer's bank disputes the charge: the dispute's id."""
        ...


class FakeCheckoutWorld:
    def __init__(self, fake: StripeFake, gateway: StripeGateway) -> None:
        self.fake = fake
        self.checkout: StripeCheckout = gateway

    def now(self) -> int:
        return int(self.fake.now())

    def pass_time(self, seconds: int) -> None:
        self.fake.clock_offset += seconds
        self.fake.expire_due_sessions()

    def _intent(self, session_id: str) -> str:
        return str(self.fake.sessions[session_id]["payment_intent"])

    def pay(self, session_id: str) -> str:
        self.fake.complete_session(session_id)
        return self._intent(session_id)

    def debit(self, session_id: str) -> str:
        self.fake.complete_session(session_id, paid=False)
        return self._intent(session_id)

    def settle_debit(self, session_id: str, succeeded: bool) -> None:
        self.fake.settle_async_payment(session_id, succeeded)

    def refund_elsewhere(self, payment_intent: str, amount: int | None = None) -> str:
        return str(self.fake.dashboard_refund(payment_intent, amount)["id"])

    def fail_refund(self, refund_id: str) -> None:
        self.fake.fail_refund(refund_id)

    def dispute(self, payment_intent: str) -> str:
        return str(self.fake.open_dispute(payment_intent)["id"])


class StubCheckoutWorld:
    def __init__(self) -> None:
        self.clock = float(NOW)
        self.stub = Stripe(clock=lambda: self.clock)
        self.checkout: StripeCheckout = self.stub

    def now(self) -> int:
        return int(self.clock)

    def pass_time(self, seconds: int) -> None:
        self.clock += seconds

    def pay(self, session_id: str) -> str:
        return str(self.stub.pay(session_id).payment_intent)

    def debit(self, session_id: str) -> str:
        return str(self.stub.debit(session_id).payment_intent)

    def settle_debit(self, session_id: str, succeeded: bool) -> None:
        self.stub.settle_debit(session_id, succeeded)

    def refund_elsewhere(self, payment_intent: str, amount: int | None = None) -> str:
        return self.stub.refund(payment_intent, amount).id

    def fail_refund(self, refund_id: str) -> None:
        self.stub.fail_refund(refund_id)

    def dispute(self, payment_intent: str) -> str:
        return str(self.stub.dispute(payment_intent)["id"])
