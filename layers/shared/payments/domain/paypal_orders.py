"""The PayPal endpoints of seed 000: orders created, captured and read by their owner (refunds: ``paypal_refunds``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payments.auth import Caller
from payments.context import system_time
from payments.domain.ownership import owned, record_owned
from payments.domain.paypal_objects import capture_state, first_capture, paypal_value
from payments.domain.ports import CAPTURE, ORDER, PayPalGateway, ProviderObjectStore
from payments.idempotency import run_once
from payments.models.common import payload
from payments.observability import audit
from payments.settings import Settings

# Request models only annotate here: a function that validates none (a webhook) never imports them.
if TYPE_CHECKING:
    from payments.models.paypal import CreateOrderRequest, OrderRequest

APPROVAL_RELS = ("payer-action", "approve")


class PayPalOrdersService:
    def __init__(
        self,
        client: Callable[[], PayPalGateway],
        objects: ProviderObjectStore,
        settings: Settings,
        clock: Callable[[], float] = system_time,
    ) -> None:
        self._client = client
        self._objects = objects
        self._settings = settings
        self._clock = clock

    def create_order(self, caller: Caller, request: CreateOrderRequest, client_key: str | None) -> dict[str, Any]:
        frontend = self._settings.frontend_url.rstrip("/")
        currency = request.currency.upper()
        value = paypal_value(request.amount, request.currency)
        unit: dict[str, Any] = {"amount": {"currency_code": currency, "value": value}}
        if request.custom_id:
            unit["custom_id"] = request.custom_id
        if request.description:
            unit["description"] = request.description
        order_request = {
            "intent": "CAPTURE",
            "purchase_units": [unit],
            # application_context, not payment_source.paypal.experience_context: with the latter PayPal
            # answers PAYER_ACTION_REQUIRED and a "payer-action" link, and seed 000's frontend expects
            # CREATED with the "approve" link. PayPal marks it deprecated but honours it.
            "application_context": {
                "return_url": f"{frontend}{self._settings.paypal_return_path}",
                "cancel_url": f"{frontend}{self._settings.paypal_cancel_path}",
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
            },
        }

        def create(request_id: str) -> dict[str, Any]:
            order = self._client().create_order(order_request, request_id)
            links = order.get("links") or []
            approval = next((link["href"] for rel in APPROVAL_RELS for link in links if link.get("rel") == rel), None)
            self._objects.record(
                ORDER, order["id"], caller.user_id, {"status": order["status"], "value": value, "currency": currency}, int(self._clock())
            )
            audit("paypal.order_created", user_id=caller.user_id, order_id=order["id"], amount=value, currency=currency)
            return {"order_id": order["id"], "status": order["status"], "approval_url": approval, "links": links}

        return run_once(caller, "paypal-order", client_key, payload(request), create)

    def capture_order(self, caller: Caller, request: OrderRequest) -> dict[str, Any]:
        owned(self._objects, caller, ORDER, request.order_id)
        # One request id per order: however often this is retried, PayPal captures once.
        order = self._client().capture_order(request.order_id, request_id=f"capture-{request.order_id}")
        capture = first_capture(order) or {}
        captured = order.get("status") == "COMPLETED" and capture.get("status") == "COMPLETED"
        now = int(self._clock())
        self._objects.apply_state(ORDER, request.order_id, {"status": order.get("status", "UNKNOWN")}, as_of=now, rank=3)
        if capture.get("id"):
            amount = capture.get("amount") or {}
            record_owned(self._objects, caller, CAPTURE, capture["id"], capture_state(capture, request.order_id), now)
            audit(
                "paypal.order_captured",
                user_id=caller.user_id,
                order_id=request.order_id,
                capture_id=capture["id"],
                amount=amount.get("value"),
                currency=amount.get("currency_code"),
                status=capture.get("status"),
            )
        return {
            "order_id": request.order_id,
            "captured": captured,
            "capture_id": capture.get("id"),
            "status": order.get("status"),
            "capture_status": capture.get("status"),
        }

    def get_order(self, caller: Caller, request: OrderRequest) -> dict[str, Any]:
        owned(self._objects, caller, ORDER, request.order_id)
        order = self._client().get_order(request.order_id)
        units = [
            {key: unit[key] for key in ("reference_id", "amount", "custom_id", "description") if key in unit}
            for unit in order.get("purchase_units") or []
        ]
        return {
            "order_id": order["id"],
            "status": order.get("status"),
            "intent": order.get("intent"),
            "purchase_units": units,
            "create_time": order.get("create_time"),
            "update_time": order.get("update_time", order.get("create_time")),
        }
