"""The direct Stripe endpoints of seed 000: payment intents, customers, subscriptions, each object
recorded with its owner; another user's object is 403, an unknown one 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payments import money
from payments.auth import Caller
from payments.context import system_time
from payments.domain.ownership import owned, record_owned
from payments.domain.ports import CUSTOMER, PAYMENT_INTENT, SUBSCRIPTION, ProviderObjectStore, StripePayments
from payments.domain.stripe_objects import expandable_id, subscription_periods
from payments.domain.stripe_sync import INTENT_RANK, SUBSCRIPTION_RANK
from payments.errors import ApiError, InvalidField, ProviderRejected
from payments.idempotency import run_once
from payments.models.common import payload
from payments.observability import audit
from payments.settings import Settings

# Request models only annotate here: a function that validates none (a webhook) never imports them.
if TYPE_CHECKING:
    from payments.models.stripe import (
        CancelSubscriptionRequest,
        ConfirmPaymentRequest,
        CreateCustomerRequest,
        CreatePaymentIntentRequest,
        CreateSubscriptionRequest,
        PaymentIntentRequest,
    )

# A confirmed intent has moved on only in these states; anything else is not a success.
CONFIRMED_STATES = frozenset({"succeeded", "processing", "requires_capture"})


class StripePaymentsService:
    def __init__(
        self,
        gateway: Callable[[], StripePayments],
        objects: ProviderObjectStore,
        settings: Settings,
        clock: Callable[[], float] = system_time,
    ) -> None:
        self._gateway = gateway
        self._objects = objects
        self._clock = clock
        self._frontend = settings.frontend_url.rstrip("/")
        self._return_url = f"{self._frontend}{settings.stripe_return_path}"

    # payment intents -------------------------------------------------------------------------
    def create_payment_intent(self, caller: Caller, request: CreatePaymentIntentRequest, client_key: str | None) -> dict[str, Any]:
        def create(key: str) -> dict[str, Any]:
            amount = money.to_minor_units(request.amount, request.currency)
            intent = self._gateway().create_payment_intent(
                amount=amount,
                currency=request.currency,
                metadata={**request.metadata, "user_id": caller.user_id},
                description=request.description,
                idempotency_key=key,
            )
            record_owned(
                self._objects,
                caller,
                PAYMENT_INTENT,
                intent["id"],
                {"status": intent["status"], "amount": intent["amount"], "currency": intent["currency"]},
                int(self._clock()),
            )
            audit(
                "stripe.payment_intent_created",
                user_id=caller.user_id,
                payment_intent=intent["id"],
                amount=intent["amount"],
                currency=intent["currency"],
            )
            return {
                "payment_intent_id": intent["id"],
                "client_secret": intent["client_secret"],
                "status": intent["status"],
                "amount": intent["amount"],
                "currency": intent["currency"],
            }

        return run_once(caller, "payment-intent", client_key, payload(request), create)

    def confirm_payment(self, caller: Caller, request: ConfirmPaymentRequest, client_key: str | None) -> dict[str, Any]:
        owned(self._objects, caller, PAYMENT_INTENT, request.payment_intent_id)
        if request.return_url and not request.return_url.startswith(self._frontend + "/"):
            # Stripe sends the customer there: only our own frontend, never an address a request names.
            raise InvalidField("return_url", f"must be under {self._frontend}/")

        def confirm(key: str) -> dict[str, Any]:
            return self._confirmed(caller, request, key)

        return run_once(caller, f"confirm-{request.payment_intent_id}", client_key, payload(request), confirm)

    def _confirmed(self, caller: Caller, request: ConfirmPaymentRequest, key: str) -> dict[str, Any]:
        intent = self._gateway().confirm_payment_intent(
            request.payment_intent_id,
            payment_method=request.payment_method,
            return_url=request.return_url or self._return_url,
            idempotency_key=key,
        )
        status = intent["status"]
        # What Stripe answered is recorded now, not when (or if) its webhook comes. It is dated at
        # the intent's creation, Stripe's own clock and earlier than any of its events: a state a
        # webhook recorded, or records later, always wins over this answer, whatever our clock says.
        self._objects.apply_state(
            PAYMENT_INTENT,
            intent["id"],
            {"status": status, "amount_received": intent.get("amount_received") or 0},
            as_of=int(intent.get("created") or 0),
            rank=INTENT_RANK.get(status, 0),
        )
        audit(
            "stripe.payment_intent_confirmed", user_id=caller.user_id, payment_intent=intent["id"], amount=intent["amount"], status=status
        )
        answer: dict[str, Any] = {
            "confirmed": status in CONFIRMED_STATES,
            "payment_intent_id": intent["id"],
            "status": status,
            "requires_action": status == "requires_action",
        }
        if status == "requires_action":
            # Stripe.js finishes 3-D Secure with the client secret: stripe.handleNextAction({clientSecret}).
            answer["client_secret"] = intent["client_secret"]
            answer["next_action"] = (intent.get("next_action") or {}).get("type")
        return answer

    def retrieve_payment(self, caller: Caller, request: PaymentIntentRequest) -> dict[str, Any]:
        owned(self._objects, caller, PAYMENT_INTENT, request.payment_intent_id)
        intent = self._gateway().retrieve_payment_intent(request.payment_intent_id)
        return {
            "payment_intent_id": intent["id"],
            "status": intent["status"],
            "amount": intent["amount"],
            "currency": intent["currency"],
            "created": intent["created"],
            "metadata": intent.get("metadata") or {},
        }

    # customers and subscriptions ---------------------------------------------------------------
    def create_customer(self, caller: Caller, request: CreateCustomerRequest, client_key: str | None) -> dict[str, Any]:
        def create(key: str) -> dict[str, Any]:
            customer = self._gateway().create_customer(
                email=request.email, name=request.name, metadata={**request.metadata, "user_id": caller.user_id}, idempotency_key=key
            )
            record_owned(self._objects, caller, CUSTOMER, customer["id"], {"email": customer.get("email")}, int(self._clock()))
            return {"customer_id": customer["id"], "email": customer.get("email"), "name": customer.get("name")}

        return run_once(caller, "customer", client_key, payload(request), create)

    def create_subscription(self, caller: Caller, request: CreateSubscriptionRequest, client_key: str | None) -> dict[str, Any]:
        owned(self._objects, caller, CUSTOMER, request.customer_id)

        def create(key: str) -> dict[str, Any]:
            subscription = self._gateway().create_subscription(
                customer=request.customer_id,
                price=request.price_id,
                metadata={**request.metadata, "user_id": caller.user_id},
                idempotency_key=key,
            )
            start, end = subscription_periods(subscription)
            record_owned(
                self._objects,
                caller,
                SUBSCRIPTION,
                subscription["id"],
                {"status": subscription["status"], "customer": request.customer_id},
                int(self._clock()),
            )
            audit("stripe.subscription_created", user_id=caller.user_id, subscription=subscription["id"], price=request.price_id)
            invoice = subscription.get("latest_invoice")
            secret = (invoice.get("confirmation_secret") or {}) if isinstance(invoice, dict) else {}
            answer: dict[str, Any] = {
                "subscription_id": subscription["id"],
                "status": subscription["status"],
                "current_period_start": start,
                "current_period_end": end,
                "latest_invoice": expandable_id(invoice),
            }
            if subscription["status"] == "incomplete" and secret.get("client_secret"):
                # What Stripe.js needs to confirm the first payment: stripe.confirmPayment({clientSecret}).
                answer["client_secret"] = secret["client_secret"]
            return answer

        return run_once(caller, "subscription", client_key, payload(request), create)

    def cancel_subscription(self, caller: Caller, request: CancelSubscriptionRequest) -> dict[str, Any]:
        owned(self._objects, caller, SUBSCRIPTION, request.subscription_id)
        gateway = self._gateway()
        try:
            subscription = gateway.cancel_subscription(request.subscription_id)
        except ProviderRejected as refusal:
            # Stripe refuses to cancel a canceled subscription: a retry after a lost answer (the
            # first call canceled it). Stripe's state then answers, as the first call would have;
            # any other refusal (or a state Stripe cannot give now) is Stripe's refusal.
            try:
                subscription = gateway.retrieve_subscription(request.subscription_id)
            except ApiError:
                raise refusal from None
            if subscription.get("status") != "canceled":
                raise
        # Recorded as Stripe answered, as of Stripe's own time of the cancellation: the webhook of the
        # same change, whenever it comes, finds it applied, and an older one cannot undo it.
        state = {"status": subscription["status"], "canceled_at": subscription.get("canceled_at")}
        self._objects.apply_state(
            SUBSCRIPTION,
            subscription["id"],
            {name: value for name, value in state.items() if value is not None},
            as_of=int(subscription.get("canceled_at") or self._clock()),
            rank=SUBSCRIPTION_RANK.get(subscription["status"], 0),
        )
        audit("stripe.subscription_canceled", user_id=caller.user_id, subscription=subscription["id"])
        return {"subscription_id": subscription["id"], "status": subscription["status"], "canceled_at": subscription.get("canceled_at")}
