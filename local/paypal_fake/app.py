"""The local PayPal: the REST API, an approval page at ``/checkoutnow``, and test controls under
``/_fake``. Each resource family lives in its own module with its route table; this module holds
the account's state, what differs from the shared skeleton (``local/provider_fake.py``), signed
webhook events, and what happens at PayPal without our API (the dashboard)."""

from __future__ import annotations

import copy
import json
import secrets
import time
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from local.paypal_fake import events, notifications, oauth, orders, payments
from local.paypal_fake.objects import PayPalError, not_found, now_text, paypal_id, server_error
from local.provider_fake import ProviderError, ProviderFake, Replay, Route


class PayPalFake(ProviderFake):
    def __init__(
        self,
        public_url: str = "http://127.0.0.1:12112",
        client_id: str = "local-paypal-client",
        client_secret: str = "local-paypal-secret",  # noqa: S107 - the fake's own, local-only credential
        webhook_url: str | None = None,
        webhook_id: str = "8PT597110X687430LKGECATA",
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.webhook_id = webhook_id
        self.signer = notifications.Signer()
        self.token_lifetime = 32400
        super().__init__(public_url, (*oauth.ROUTES, *orders.ROUTES, *payments.ROUTES, *notifications.ROUTES, *events.ROUTES), webhook_url)

    def reset_state(self) -> None:
        self.tokens: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.deliveries: dict[str, dict[str, Any]] = {}  # transmission id -> what was signed
        self.token_requests = 0
        self.deny_next_capture = False
        self.pend_next_capture: str | None = None  # the next capture is PENDING for this reason

    def expire_tokens(self) -> None:
        """Every issued access token stops working, as when PayPal rotates them early."""
        with self._lock:
            self.tokens.clear()

    def fail_next(self, path_prefix: str, failure: PayPalError | int) -> None:
        """The next request under ``path_prefix`` fails with this error (or bare HTTP status)."""
        self.arm_failure(path_prefix, server_error(failure) if isinstance(failure, int) else failure)

    def link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": f"{self.public_url}{path}", "rel": rel, "method": method}

    # where PayPal differs from the skeleton ------------------------------------------------------
    def check_credentials(self, request: Request) -> Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if auth.startswith("Bearer ") and self.tokens.get(token, 0) >= time.time():
            return None
        return self.json_response(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})

    def parse(self, request: Request) -> Any:
        if request.method == "GET":
            return dict(request.args)  # a listing's filters; nothing else PayPal reads has a query
        if not request.get_data():
            return {}
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise PayPalError(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "MALFORMED_REQUEST_JSON",
                "The request JSON is not well formed.",
            )
        return body

    def idempotency_key(self, request: Request) -> str | None:
        return request.headers.get("PayPal-Request-Id")

    def replay(self, route: Route, stored: Replay, fingerprint: str, key: str, request: Request) -> Response | None:
        # PayPal answers a repeated PayPal-Request-Id with the result of the first call (with 200
        # where its description says so); a refused first call is tried again.
        if stored.status >= 400:
            return None
        return self.json_response(route.replayed_status or stored.status, stored.body)

    def lost_answer(self) -> ProviderError:
        return server_error(500)

    def unknown_route(self, request: Request, status: int) -> ProviderError:
        if status == 404:
            return not_found()
        return PayPalError(status, "METHOD_NOT_SUPPORTED", f"The {request.method} method is not supported for this resource.")

    def answer_headers(self) -> dict[str, str]:
        return {"Paypal-Debug-Id": secrets.token_hex(7)}

    # webhooks --------------------------------------------------------------------------------
    def emit(self, event_type: str, resource_type: str, resource: dict[str, Any], summary: str) -> dict[str, Any]:
        event = {
            "id": f"WH-{paypal_id(17)}-{paypal_id(17)}",
            "event_version": "1.0",
            "create_time": now_text(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": copy.deepcopy(resource),
            "links": [],
        }
        self.record_event(event)
        if self.webhook_url:
            payload = json.dumps(event).encode()
            self.send_webhook(payload, self.sign(payload, event))
        return event

    def sign(self, payload: bytes, event: dict[str, Any], webhook_id: str | None = None) -> dict[str, str]:
        """The headers PayPal would send with this payload."""
        with self._lock:
            return notifications.delivery_headers(self, payload, copy.deepcopy(event), webhook_id or self.webhook_id)

    @property
    def certificate_roots_pem(self) -> str:
        """The root the fake's signing certificate chains to: PAYPAL_CERTIFICATE_ROOTS for the API."""
        return self.signer.root_pem

    # what happens at PayPal without our API ----------------------------------------------------
    def approve(self, order_id: str) -> dict[str, Any]:
        """What the payer does on PayPal's approval page."""
        with self._lock:
            return orders.approve(self, order_id)

    def dashboard_refund(self, capture_id: str, value: str | None = None) -> dict[str, Any]:
        """A refund made in PayPal's dashboard: no custom_id, no request id of ours."""
        with self._lock:
            return payments.dashboard_refund(self, capture_id, value)

    def pend_next(self, reason: str = "PENDING_REVIEW") -> None:
        """The next capture is PENDING (held for review, an eCheck) until completed or denied."""
        with self._lock:
            self.pend_next_capture = reason

    def complete_capture(self, capture_id: str) -> dict[str, Any]:
        """A PENDING capture completes: PAYMENT.CAPTURE.COMPLETED."""
        with self._lock:
            return payments.settle_pending(self, capture_id, completed=True)

    def deny_capture(self, capture_id: str) -> dict[str, Any]:
        """A PENDING capture is denied: PAYMENT.CAPTURE.DENIED."""
        with self._lock:
            return payments.settle_pending(self, capture_id, completed=False)

    def reverse_capture(self, capture_id: str) -> dict[str, Any]:
        """PayPal reverses what is left of a capture: PAYMENT.CAPTURE.REVERSED."""
        with self._lock:
            return payments.reverse(self, capture_id)

    def refunded_total(self, capture_id: str) -> Decimal:
        return Decimal(self.captures[capture_id]["_refunded"])
