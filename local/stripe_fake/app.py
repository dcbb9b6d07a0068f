"""The local Stripe: the API under ``/v1``, a Checkout page under ``/checkout``, and test controls
under ``/_fake``. Each resource family lives in its own module with its route table; this module
holds the account's state, what differs from the shared skeleton (``local/provider_fake.py``),
signed webhook events, and what happens at Stripe without our API (the Dashboard, the bank)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any

import stripe
from werkzeug.wrappers import Request, Response

from local.provider_fake import Kind, ProviderError, ProviderFake, Replay, Route
from local.stripe_fake import billing, charges, checkout, events, payment_intents
from local.stripe_fake.definitions import ERROR_TYPES, unknown_parameter
from local.stripe_fake.forms import decode
from local.stripe_fake.objects import StripeError, from_fixture, new_id, public, rate_limited, unknown

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for this payload."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def control_fail_next(fake: StripeFake, request: Request) -> dict[str, Any] | Response:
    options = request.get_json(silent=True) or {}
    if options.get("type", "card_error") not in ERROR_TYPES:
        return Response(f"Stripe has no error type {options.get('type')!r}", status=400)
    fake.fail_next(
        options.get("path_prefix", "/v1/"),
        int(options.get("status", 402)),
        options.get("type", "card_error"),
        options.get("message", "Your card was declined."),
        options.get("code"),
        int(options.get("times", 1)),
    )
    return {"ok": True}


class StripeFake(ProviderFake):
    def __init__(self, public_url: str = "http://127.0.0.1:12111", webhook_url: str | None = None, webhook_secret: str | None = None):
        self.webhook_secret = webhook_secret
        routes = (
            *checkout.ROUTES,
            *payment_intents.ROUTES,
            *charges.ROUTES,
            *billing.ROUTES,
            *events.ROUTES,
            Route("POST", "/_fake/fail-next", control_fail_next, Kind.CONTROL),
        )
        super().__init__(public_url, routes, webhook_url)

    def reset_state(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.invoice_payments: dict[str, str] = {}  # payment intent -> the invoice it pays
        self.confirmation_secrets: dict[str, dict[str, str]] = {}  # invoice -> its includable confirmation_secret
        # Seconds added to the wall clock: tests move Stripe's time forward (key windows, expiry).
        self.clock_offset = 0.0
        # A recurring price to subscribe to, as a dashboard-made product would give.
        billing.add_price(self, "price_local_monthly", unit_amount=2000, currency="usd", interval="month")

    def now(self) -> float:
        return time.time() + self.clock_offset

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        """(method, path, idempotency key) of every API call that reached the fake."""
        return [(e.method, e.path.split("?")[0], e.headers.get("Idempotency-Key")) for e in self.exchanges if e.status != 401]

    # where Stripe differs from the skeleton ------------------------------------------------------
    def check_credentials(self, request: Request) -> Response | None:
        if request.headers.get("Authorization", "").startswith("Bearer sk_"):
            return None
        return self.error_response(StripeError(401, "invalid_request_error", "Invalid API Key provided."))

    def parse(self, request: Request) -> Any:
        source = request.form if request.method == "POST" else request.args
        return decode(list(source.items(multi=True)))

    def idempotency_key(self, request: Request) -> str | None:
        return request.headers.get("Idempotency-Key")

    def key_scope(self, request: Request, key: str) -> tuple[str, ...]:
        # An idempotency key is the account's, whatever endpoint it was first used on.
        return (key,)

    def check_params(self, route: Route, params: Any) -> None:
        name = unknown_parameter(route.params, params) if route.params else None
        if name is not None:
            raise unknown(name)

    def replay(self, route: Route, stored: Replay, fingerprint: str, key: str, request: Request) -> Response | None:
        # Stripe keeps an idempotency key for 24 hours; after that the same key is a new request.
        if self.now() - stored.at >= IDEMPOTENCY_WINDOW_SECONDS:
            return None
        if (stored.method, stored.path) != (request.method, request.path):
            return self.error_response(
                StripeError(
                    400,
                    "idempotency_error",
                    f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
                    f"('{stored.path}' vs '{request.path}'). Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                )
            )
        if stored.fingerprint != fingerprint:
            return self.error_response(
                StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                    f"Try using a key other than '{key}' if you meant to execute a different request.",
                )
            )
        return self.json_response(stored.status, stored.body, {"Idempotent-Replayed": "true"})

    def lost_answer(self) -> ProviderError:
        return StripeError(500, "api_error", "An unknown error occurred")

    def unknown_route(self, request: Request, status: int) -> ProviderError:
        if status == 404:
            return StripeError(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")
        return StripeError(status, "invalid_request_error", f"{request.method} is not allowed on {request.path}.")

    def answer_headers(self) -> dict[str, str]:
        return {"Request-Id": new_id("req")}

    def fail_next(
        self,
        path_prefix: str,
        status: int = 402,
        type_: str = "card_error",
        message: str = "Your card was declined.",
        code: str | None = "card_declined",
        times: int = 1,
    ) -> None:
        if type_ not in ERROR_TYPES:
            raise ValueError(f"Stripe sends no error of type {type_!r}; its types are {sorted(ERROR_TYPES)}")
        # A 429 has one body at Stripe, whatever the test asked for.
        self.arm_failure(path_prefix, rate_limited() if status == 429 else StripeError(status, type_, message, code), times)

    def rate_limit_next(self, path_prefix: str, times: int = 1) -> None:
        """The next ``times`` requests under ``path_prefix`` are answered with Stripe's 429."""
        self.arm_failure(path_prefix, rate_limited(), times)

    # events ----------------------------------------------------------------------------------
    def emit(self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Records and sends an event; ``previous`` is ``data.previous_attributes``, the changed
        fields' values before, which Stripe sends with every ``*.updated`` event (and only those)."""
        if event_type.endswith(".updated") != (previous is not None):
            raise ValueError(f"{event_type}: previous_attributes go with *.updated events, and only with them")
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = from_fixture(
            "event",
            id=new_id("evt"),
            type=event_type,
            created=int(self.now()),
            api_version=stripe.api_version,  # the version the pinned SDK sends, as the endpoint is configured
            data=data,
            livemode=False,
            pending_webhooks=1 if self.webhook_url else 0,
            request={"id": None, "idempotency_key": None},
        )
        self.record_event(event)
        if self.webhook_url and self.webhook_secret:
            payload, secret = json.dumps(event).encode(), self.webhook_secret
            # Signed at each attempt, as Stripe does: a retry carries a fresh timestamp.
            self.send_webhook(payload, lambda: {"Content-Type": "application/json", "Stripe-Signature": sign_payload(payload, secret)})
        return event

    def intent_settled(self, intent: dict[str, Any], paid: bool) -> None:
        """A payment intent succeeded or was declined: the invoice it pays follows."""
        billing.settle_invoice(self, intent, paid)

    # what happens at Stripe without our API ----------------------------------------------------
    def public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return public(obj)

    def complete_session(self, sid: str, paid: bool = True) -> dict[str, Any]:
        """The customer pays on the Checkout page (unpaid: with a delayed method); returns the event."""
        with self._lock:
            return checkout.complete(self, sid, paid)

    def expire_session(self, sid: str) -> dict[str, Any]:
        """Stripe expires the session (its time is up, or the API was asked to)."""
        with self._lock:
            return checkout.expire(self, {}, sid)

    def expire_due_sessions(self, now: float | None = None) -> list[str]:
        with self._lock:
            return checkout.expire_due(self, self.now() if now is None else now)

    def settle_async_payment(self, sid: str, succeeded: bool) -> dict[str, Any]:
        """A delayed payment method (a bank debit) of a completed session settles, days later."""
        with self._lock:
            return checkout.settle_delayed_payment(self, sid, succeeded)

    def authenticate_payment(self, pid: str) -> dict[str, Any]:
        """The customer completes 3-D Secure in Stripe.js."""
        with self._lock:
            return payment_intents.authenticate(self, pid)

    def dashboard_refund(self, pid: str, amount: int | None = None) -> dict[str, Any]:
        """Someone refunds the payment in the Stripe Dashboard."""
        with self._lock:
            return charges.refund(self, payment_intents.intent_of(self, pid), amount, "requested_by_customer", {})

    def refunded_amount(self, pid: str) -> int:
        with self._lock:
            return charges.refunded_amount(self, pid)

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> dict[str, Any]:
        """The bank returns a refund that had succeeded; returns the refund."""
        with self._lock:
            return charges.fail_refund(self, refund_id, reason)

    def open_dispute(self, pid: str) -> dict[str, Any]:
        with self._lock:
            return charges.open_dispute(self, payment_intents.intent_of(self, pid))

    def close_dispute(self, dispute_id: str, won: bool) -> dict[str, Any]:
        with self._lock:
            return charges.close_dispute(self, dispute_id, won)

    def add_price(self, price_id: str, unit_amount: int, currency: str, interval: str = "month") -> dict[str, Any]:
        with self._lock:
            return billing.add_price(self, price_id, unit_amount, currency, interval)
