"""WSGI application of the local Stripe: the API under ``/v1``, a Checkout page under ``/checkout``,
and test controls under ``/_fake`` (not part of Stripe's API)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import stripe
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from local.stripe_fake.forms import decode
from local.webhook_delivery import WebhookSender

FIXTURES: dict[str, dict[str, Any]] = json.loads((Path(__file__).with_name("fixtures3.json")).read_text())["resources"]
CHECKOUT_MIN_EXPIRY = 1800
CHECKOUT_MAX_EXPIRY = 86400
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


# Amounts Stripe refuses whatever their size (https://docs.stripe.com/currencies#special-cases):
# ISK in whole krónur (two decimals that must be 00), three-decimal currencies ending in 0.
WHOLE_UNIT_CURRENCIES = {"isk": 100}
THREE_DECIMAL_CURRENCIES = {"bhd", "jod", "kwd", "omr", "tnd"}


def _check_charge_amount(amount: int, currency: str, param: str) -> None:
    step = WHOLE_UNIT_CURRENCIES.get(currency) or (10 if currency in THREE_DECIMAL_CURRENCIES else 1)
    if amount % step:
        raise StripeError(
            400,
            "invalid_request_error",
            f"Invalid amount. Currency {currency.upper()} amounts must be evenly divisible by {step}.",
            "invalid_charge_amount",
            param,
        )


class StripeError(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param = status, type_, message, code, param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def from_fixture(fixture: str, /, **fields: Any) -> dict[str, Any]:
    """A new object of Stripe's example shape with our values laid over it."""
    obj = copy.deepcopy(FIXTURES[fixture])
    obj.update(fields)
    return obj


def _plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy plan object Stripe still returns beside each subscription item's price."""
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price.get("active", True),
        "amount": price.get("unit_amount"),
        "amount_decimal": str(price.get("unit_amount")),
        "billing_scheme": "per_unit",
        "created": price.get("created"),
        "currency": price.get("currency"),
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": None,
        "product": price.get("product"),
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for this payload."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def _int_param(params: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise StripeError(400, "invalid_request_error", f"Missing required param: {name}.", "parameter_missing", name)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, "invalid_request_error", f"Invalid integer: {value}", "parameter_invalid_integer", name) from None


class StripeFake:
    """State and behaviour; ``wsgi_app`` serves it. Thread-safe: one lock around every request."""

    def __init__(self, public_url: str = "http://127.0.0.1:12111", webhook_url: str | None = None, webhook_secret: str | None = None):
        self.public_url = public_url.rstrip("/")
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self._sender: WebhookSender | None = None
        self._in_flight = 0
        self._lock = threading.RLock()
        self.reset()
        self._map = Map(
            [
                Rule("/v1/checkout/sessions", methods=["POST"], endpoint="create_checkout_session"),
                Rule("/v1/checkout/sessions", methods=["GET"], endpoint="list_checkout_sessions"),
                Rule("/v1/payment_intents", methods=["GET"], endpoint="list_payment_intents"),
                Rule("/v1/checkout/sessions/<sid>", methods=["GET"], endpoint="get_checkout_session"),
                Rule("/v1/checkout/sessions/<sid>/expire", methods=["POST"], endpoint="expire_checkout_session"),
                Rule("/v1/payment_intents", methods=["POST"], endpoint="create_payment_intent"),
                Rule("/v1/payment_intents/<pid>", methods=["GET"], endpoint="get_payment_intent"),
                Rule("/v1/payment_intents/<pid>/confirm", methods=["POST"], endpoint="confirm_payment_intent"),
                Rule("/v1/payment_intents/<pid>/cancel", methods=["POST"], endpoint="cancel_payment_intent"),
                Rule("/v1/refunds", methods=["POST"], endpoint="create_refund"),
                Rule("/v1/refunds", methods=["GET"], endpoint="list_refunds"),
                Rule("/v1/disputes", methods=["GET"], endpoint="list_disputes"),
                Rule("/v1/customers", methods=["POST"], endpoint="create_customer"),
                Rule("/v1/customers/<cid>", methods=["GET"], endpoint="get_customer"),
                Rule("/v1/prices", methods=["POST"], endpoint="create_price"),
                Rule("/v1/prices/<price_id>", methods=["GET"], endpoint="get_price"),
                Rule("/v1/subscriptions", methods=["POST"], endpoint="create_subscription"),
                Rule("/v1/subscriptions/<sub_id>", methods=["GET"], endpoint="get_subscription"),
                Rule("/v1/subscriptions/<sub_id>", methods=["DELETE"], endpoint="cancel_subscription"),
                Rule("/checkout/pay/<sid>", methods=["GET"], endpoint="checkout_page"),
                Rule("/checkout/pay/<sid>", methods=["POST"], endpoint="checkout_submit"),
                Rule("/_fake/checkout/sessions/<sid>/complete", methods=["POST"], endpoint="control_complete"),
                Rule("/_fake/checkout/sessions/<sid>/expire", methods=["POST"], endpoint="control_expire"),
                Rule("/_fake/fail-next", methods=["POST"], endpoint="control_fail_next"),
                Rule("/_fake/events", methods=["GET"], endpoint="control_events"),
                Rule("/_fake/reset", methods=["POST"], endpoint="control_reset"),
            ]
        )

    # state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.sessions: dict[str, dict[str, Any]] = {}
            self.payment_intents: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.customers: dict[str, dict[str, Any]] = {}
            self.prices: dict[str, dict[str, Any]] = {}
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.invoices: dict[str, dict[str, Any]] = {}
            self.disputes: dict[str, dict[str, Any]] = {}
            self._invoice_payments: dict[str, str] = {}  # payment intent -> the invoice it pays
            self._confirmation_secrets: dict[str, dict[str, str]] = {}  # invoice -> its includable confirmation_secret
            # Seconds added to the wall clock: tests move Stripe's time forward (key windows, expiry).
            self.clock_offset = 0.0
            # A recurring price to subscribe to, as a dashboard-made product would give.
            self.add_price("price_local_monthly", unit_amount=2000, currency="usd", interval="month")
            self.events: list[dict[str, Any]] = []
            self.requests: list[tuple[str, str, str | None]] = []  # method, path, idempotency key
            self._idempotent: dict[tuple[str, str], tuple[float, str, int, dict[str, Any]]] = {}
            self._failures: list[dict[str, Any]] = []
            self._lost_answers: list[dict[str, Any]] = []
            self._delays: list[tuple[str, float]] = []

    def now(self) -> float:
        return time.time() + self.clock_offset

    def fail_next(
        self,
        path_prefix: str,
        status: int = 402,
        type_: str = "card_error",
        message: str = "Your card was declined.",
        code: str | None = "card_declined",
        times: int = 1,
    ) -> None:
        with self._lock:
            self._failures.append(
                {"prefix": path_prefix, "status": status, "type": type_, "message": message, "code": code, "times": times}
            )

    def lose_next_answer(self, path_prefix: str, times: int = 1) -> None:
        """The next requests under ``path_prefix`` are carried out and their answers lost (the caller
        sees a 500, as when a connection drops after Stripe acted): a retry with the same
        idempotency key gets Stripe's replay; a caller that gives up never learns the result."""
        with self._lock:
            self._lost_answers.append({"prefix": path_prefix, "times": times})

    def reset_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            self._lost_answers.clear()

    def delay_next(self, path_prefix: str, seconds: float) -> None:
        """The next matching request takes this long: a slow Stripe, for overlapping-request tests."""
        with self._lock:
            self._delays.append((path_prefix, seconds))

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Waits for delayed requests to finish, so that they cannot land in the next test's state."""
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.05)

    def _take_delay(self, path: str) -> float:
        with self._lock:
            for index, (prefix, seconds) in enumerate(self._delays):
                if path.startswith(prefix):
                    del self._delays[index]
                    return seconds
        return 0.0

    # WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return self._json(
                404, StripeError(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).").body()
            )
        except HTTPException as error:
            return self._json(error.code or 400, StripeError(error.code or 400, "invalid_request_error", str(error)).body())
        if request.path.startswith("/v1/"):
            return self._api(request, endpoint, args)
        with self._lock:
            try:
                result = getattr(self, f"_{endpoint}")(request, **args)
            except StripeError as error:
                return self._json(error.status, error.body())
        return result if isinstance(result, Response) else self._json(200, result)

    def _api(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_"):
            return self._json(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}})
        params = decode(list(request.form.items(multi=True))) if request.method == "POST" else decode(list(request.args.items(multi=True)))
        pause = self._take_delay(request.path)
        if pause:
            self._in_flight += 1
            try:
                time.sleep(pause)  # outside the lock: other requests go on meanwhile
            finally:
                self._in_flight -= 1
        key = request.headers.get("Idempotency-Key")
        with self._lock:
            self.requests.append((request.method, request.path, key))
            failure = self._take_failure(request.path)
            if failure is not None:
                response = self._json(failure.status, failure.body())
                if failure.status in (429, 503):
                    response.headers["Stripe-Should-Retry"] = "false" if failure.status == 429 else "true"
                return response
            fingerprint = json.dumps(params, sort_keys=True)
            seen = self._idempotent.get((request.path, key or "")) if key and request.method == "POST" else None
            # Stripe keeps an idempotency key for 24 hours; after that the same key is a new request.
            if seen is not None and self.now() - seen[0] < IDEMPOTENCY_WINDOW_SECONDS:
                _, seen_fingerprint, status, body = seen
                if seen_fingerprint != fingerprint:
                    error = StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                        f"Try using a key other than '{key}' if you meant to execute a different request.",
                    )
                    return self._json(400, error.body())
                return self._json(status, body, replayed=True)
            try:
                status, body = 200, getattr(self, f"_{endpoint}")(params, **args)
            except StripeError as error:
                status, body = error.status, error.body()
            if key and request.method == "POST":
                self._idempotent[(request.path, key)] = (self.now(), fingerprint, status, body)
            lost = next((entry for entry in self._lost_answers if request.path.startswith(entry["prefix"])), None)
            if lost is not None:
                lost["times"] -= 1
                if lost["times"] <= 0:
                    self._lost_answers.remove(lost)
                return self._json(500, StripeError(500, "api_error", "An unknown error occurred").body())
        return self._json(status, body)

    def _take_failure(self, path: str) -> StripeError | None:
        for failure in self._failures:
            if path.startswith(failure["prefix"]):
                failure["times"] -= 1
                if failure["times"] <= 0:
                    self._failures.remove(failure)
                return StripeError(failure["status"], failure["type"], failure["message"], failure["code"])
        return None

    @staticmethod
    def _json(status: int, body: dict[str, Any], replayed: bool = False) -> Response:
        headers = {"Request-Id": _id("req")}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)

    # events ----------------------------------------------------------------------------------
    def _emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = from_fixture(
            "event",
            id=_id("evt"),
            type=event_type,
            created=int(self.now()),
            api_version=stripe.api_version,  # the version the pinned SDK sends, as the endpoint is configured
            data={"object": copy.deepcopy(obj)},
            livemode=False,
            pending_webhooks=1 if self.webhook_url else 0,
            request={"id": None, "idempotency_key": None},
        )
        self.events.append(event)
        if self.webhook_url and self.webhook_secret:
            self._deliver(event)
        return event

    def _deliver(self, event: dict[str, Any]) -> None:
        if self._sender is None:
            self._sender = WebhookSender(self.webhook_url or "")
        payload = json.dumps(event).encode()
        signature = sign_payload(payload, self.webhook_secret or "")
        self._sender.send(payload, {"Content-Type": "application/json", "Stripe-Signature": signature})

    def drain_webhooks(self, timeout: float = 30.0) -> bool:
        """Waits until every webhook emitted so far was delivered."""
        return self._sender.drain(timeout) if self._sender else True

    # checkout sessions -----------------------------------------------------------------------
    def _create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeError(400, "invalid_request_error", "The local Stripe fake supports mode=payment only.", None, "mode")
        if not params.get("success_url"):
            raise StripeError(400, "invalid_request_error", "Missing required param: success_url.", "parameter_missing", "success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(400, "invalid_request_error", "Missing required param: line_items.", "parameter_missing", "line_items")
        total, currency = 0, None
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            unit_amount = _int_param(price, "unit_amount") or 0
            quantity = _int_param(item, "quantity") or 0
            if not price.get("currency") or not (price.get("product_data") or {}).get("name"):
                raise StripeError(
                    400, "invalid_request_error", f"Missing required param: line_items[{index}][price_data].", "parameter_missing"
                )
            if quantity < 1:
                raise StripeError(
                    400,
                    "invalid_request_error",
                    "Quantity must be at least 1.",
                    "parameter_invalid_integer",
                    f"line_items[{index}][quantity]",
                )
            currency = price["currency"].lower()
            _check_charge_amount(unit_amount, currency, f"line_items[{index}][price_data][unit_amount]")
            total += unit_amount * quantity
        if total > 99_999_999:
            raise StripeError(400, "invalid_request_error", "Amount must be no more than 999,999.99", "amount_too_large", "line_items")
        now = int(self.now())
        expires_at = _int_param(params, "expires_at", required=False) or now + CHECKOUT_MAX_EXPIRY
        if not now + CHECKOUT_MIN_EXPIRY <= expires_at <= now + CHECKOUT_MAX_EXPIRY:
            raise StripeError(
                400,
                "invalid_request_error",
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
                "parameter_invalid_integer",
                "expires_at",
            )
        sid = "cs_test_" + secrets.token_urlsafe(40).replace("-", "").replace("_", "")[:58]
        session = from_fixture(
            "checkout.session",
            id=sid,
            url=f"{self.public_url}/checkout/pay/{sid}",
            status="open",
            payment_status="unpaid",
            payment_intent=None,
            amount_subtotal=total,
            amount_total=total,
            currency=currency,
            created=now,
            expires_at=expires_at,
            success_url=params["success_url"],
            cancel_url=params.get("cancel_url"),
            client_reference_id=params.get("client_reference_id"),
            metadata=params.get("metadata") or {},
            mode="payment",
            customer_details=None,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        )
        session["_payment_intent_metadata"] = (params.get("payment_intent_data") or {}).get("metadata") or {}
        self.sessions[sid] = session
        return self._public(session)

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in obj.items() if not key.startswith("_")}

    @staticmethod
    def _list(url: str, objects: Iterable[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """Stripe's list envelope, newest first, filtered by ``created[gte]``, continued after
        ``starting_after`` and cut at ``limit``."""
        since = int((params.get("created") or {}).get("gte", 0))
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise StripeError(400, "invalid_request_error", "This value must be between 1 and 100.", "parameter_invalid_integer", "limit")
        listed = list(objects)
        order = {obj["id"]: index for index, obj in enumerate(listed)}  # creation order breaks ties in `created`
        matching = sorted(
            (obj for obj in listed if obj["created"] >= since), key=lambda obj: (obj["created"], order[obj["id"]]), reverse=True
        )
        after = params.get("starting_after")
        if after:
            ids = [obj["id"] for obj in matching]
            if after not in ids:
                raise StripeError(400, "invalid_request_error", f"No such object: '{after}'", "resource_missing", "starting_after")
            matching = matching[ids.index(after) + 1 :]
        return {"object": "list", "url": url, "has_more": len(matching) > limit, "data": matching[:limit]}

    def _list_refunds(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = params.get("payment_intent")
        refunds = (refund for refund in self.refunds.values() if intent is None or refund["payment_intent"] == intent)
        return self._list("/v1/refunds", refunds, params)

    def _list_disputes(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("payment_intent")
        disputes = [d for d in self.disputes.values() if wanted is None or d["payment_intent"] == wanted]
        return self._list("/v1/disputes", disputes, params)

    def _list_checkout_sessions(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._list("/v1/checkout/sessions", (self._public(session) for session in self.sessions.values()), params)

    def _list_payment_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._list("/v1/payment_intents", self.payment_intents.values(), params)

    def _session(self, sid: str) -> dict[str, Any]:
        session = self.sessions.get(sid)
        if session is None:
            raise StripeError(404, "invalid_request_error", f"No such checkout.session: '{sid}'", "resource_missing", "session")
        return session

    def _get_checkout_session(self, params: dict[str, Any], sid: str) -> dict[str, Any]:
        return self._public(self._session(sid))

    def _expire_checkout_session(self, params: dict[str, Any], sid: str) -> dict[str, Any]:
        session = self._session(sid)
        if session["status"] != "open":
            raise StripeError(
                400,
                "invalid_request_error",
                'Only Checkout Sessions with a status in ["open"] can be expired.',
            )
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", self._public(session))
        return self._public(session)

    def expire_due_sessions(self, now: float | None = None) -> list[str]:
        """Stripe expires open sessions at their ``expires_at`` and sends ``checkout.session.expired``."""
        moment = self.now() if now is None else now
        with self._lock:
            due = [sid for sid, session in self.sessions.items() if session["status"] == "open" and session["expires_at"] <= moment]
            for sid in due:
                self._expire_checkout_session({}, sid)
        return due

    def complete_session(self, sid: str, paid: bool = True) -> dict[str, Any]:
        """What a customer paying on the Checkout page does; returns the emitted event."""
        session = self._session(sid)
        if session["status"] != "open":
            raise StripeError(400, "invalid_request_error", "This Checkout Session is no longer open.")
        intent = from_fixture(
            "payment_intent",
            id=_id("pi"),
            amount=session["amount_total"],
            amount_received=session["amount_total"] if paid else 0,
            currency=session["currency"],
            status="succeeded" if paid else "processing",
            created=int(self.now()),
            canceled_at=None,
            client_secret=None,
            last_payment_error=None,
            next_action=None,
            metadata=session["_payment_intent_metadata"],
            latest_charge=_id("ch"),
        )
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        self.payment_intents[intent["id"]] = intent
        session.update(status="complete", payment_status="paid" if paid else "unpaid", payment_intent=intent["id"], url=None)
        return self._emit("checkout.session.completed", self._public(session))

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        pid = params.get("payment_intent")
        intent = self.payment_intents.get(str(pid))
        if intent is None:
            raise StripeError(400, "invalid_request_error", f"No such payment_intent: '{pid}'", "resource_missing", "payment_intent")
        return self._refund(intent, _int_param(params, "amount", required=False), params.get("reason"), params.get("metadata") or {})

    def _refund(self, intent: dict[str, Any], amount: int | None, reason: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] != "succeeded":
            raise StripeError(
                400,
                "invalid_request_error",
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                "charge_not_refundable",
            )
        if any(dispute["payment_intent"] == intent["id"] for dispute in self.disputes.values()):
            raise StripeError(400, "invalid_request_error", f"Charge {intent['latest_charge']} has been charged back.", "charge_disputed")
        refunded = self.refunded_amount(intent["id"])
        amount = intent["amount_received"] - refunded if amount is None else amount
        if refunded >= intent["amount_received"]:
            raise StripeError(
                400, "invalid_request_error", f"Charge {intent['latest_charge']} has already been refunded.", "charge_already_refunded"
            )
        if amount <= 0 or refunded + amount > intent["amount_received"]:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({intent['amount_received'] - refunded})",
                "amount_too_large",
                "amount",
            )
        refund = from_fixture(
            "refund",
            id=_id("re"),
            amount=amount,
            charge=intent["latest_charge"],
            payment_intent=intent["id"],
            currency=intent["currency"],
            created=int(self.now()),
            status="succeeded",
            reason=reason,
            metadata=metadata,
        )
        self.refunds[refund["id"]] = refund
        self._emit("charge.refunded", self._charge(intent))
        return refund

    def refunded_amount(self, pid: str) -> int:
        return sum(
            refund["amount"] for refund in self.refunds.values() if refund["payment_intent"] == pid and refund["status"] == "succeeded"
        )

    def _charge(self, intent: dict[str, Any]) -> dict[str, Any]:
        refunded = self.refunded_amount(intent["id"])
        return from_fixture(
            "charge",
            id=intent["latest_charge"],
            amount=intent["amount"],
            amount_captured=intent["amount_received"],
            amount_refunded=refunded,
            refunded=refunded >= intent["amount_received"],
            payment_intent=intent["id"],
            currency=intent["currency"],
            created=intent["created"],
            status="succeeded",
            captured=True,
            paid=True,
            disputed=any(dispute["payment_intent"] == intent["id"] for dispute in self.disputes.values()),
            metadata=intent["metadata"],
        )

    # what happens at Stripe without our API: the Dashboard, the customer's bank ----------------
    def dashboard_refund(self, pid: str, amount: int | None = None) -> dict[str, Any]:
        """Someone refunds the payment in the Stripe Dashboard."""
        with self._lock:
            return self._refund(self._intent(pid), amount, "requested_by_customer", {})

    def open_dispute(self, pid: str) -> dict[str, Any]:
        """The customer's bank disputes the charge: Stripe takes the money back until it is decided."""
        with self._lock:
            intent = self._intent(pid)
            dispute = from_fixture(
                "dispute",
                id=_id("dp"),
                amount=intent["amount_received"] - self.refunded_amount(pid),
                charge=intent["latest_charge"],
                payment_intent=pid,
                currency=intent["currency"],
                created=int(self.now()),
                status="needs_response",
                is_charge_refundable=False,
                metadata={},
            )
            self.disputes[dispute["id"]] = dispute
            self._emit("charge.dispute.created", dispute)
            return dispute

    def close_dispute(self, dispute_id: str, won: bool) -> dict[str, Any]:
        with self._lock:
            dispute = self.disputes[dispute_id]
            dispute["status"] = "won" if won else "lost"
            self._emit("charge.dispute.closed", dispute)
            return dispute

    def settle_async_payment(self, sid: str, succeeded: bool) -> dict[str, Any]:
        """A delayed payment method (a bank debit) of a completed session settles, days later."""
        with self._lock:
            session = self._session(sid)
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise StripeError(400, "invalid_request_error", "This Checkout Session has no payment processing.")
            intent = self._intent(str(session["payment_intent"]))
            if succeeded:
                intent.update(status="succeeded", amount_received=intent["amount"])
                session["payment_status"] = "paid"
                return self._emit("checkout.session.async_payment_succeeded", self._public(session))
            intent.update(
                status="requires_payment_method",
                last_payment_error={"type": "card_error", "code": "payment_method_provider_decline", "message": "The debit failed."},
            )
            return self._emit("checkout.session.async_payment_failed", self._public(session))

    # payment intents -------------------------------------------------------------------------
    MINIMUM_AMOUNTS: ClassVar[dict[str, int]] = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "kwd": 200}
    # Stripe's test payment methods and what confirming with them does.
    DECLINING_METHODS: ClassVar[dict[str, str]] = {
        "pm_card_chargeDeclined": "generic_decline",
        "pm_card_visa_chargeDeclined": "generic_decline",
        "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    }
    ACTION_METHODS: ClassVar[set[str]] = {"pm_card_threeDSecure2Required", "pm_card_authenticationRequired"}

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = _int_param(params, "amount") or 0
        currency = str(params.get("currency") or "").lower()
        if not currency:
            raise StripeError(400, "invalid_request_error", "Missing required param: currency.", "parameter_missing", "currency")
        _check_charge_amount(amount, currency, "amount")
        minimum = self.MINIMUM_AMOUNTS.get(currency, 50)
        if amount < minimum:
            raise StripeError(400, "invalid_request_error", f"Amount must be at least {minimum} {currency}", "amount_too_small", "amount")
        if amount > 99_999_999:
            raise StripeError(400, "invalid_request_error", "Amount must be no more than 999,999.99", "amount_too_large", "amount")
        intent = from_fixture(
            "payment_intent",
            id=_id("pi"),
            amount=amount,
            amount_received=0,
            currency=currency,
            status="requires_payment_method",
            created=int(self.now()),
            canceled_at=None,
            cancellation_reason=None,
            customer=params.get("customer"),
            description=params.get("description"),
            last_payment_error=None,
            latest_charge=None,
            next_action=None,
            metadata=params.get("metadata") or {},
            payment_method=params.get("payment_method"),
            processing=None,
            automatic_payment_methods={"enabled": str((params.get("automatic_payment_methods") or {}).get("enabled")).lower() == "true"},
        )
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.payment_intents[intent["id"]] = intent
        self._emit("payment_intent.created", intent)
        return intent

    def _intent(self, pid: str) -> dict[str, Any]:
        intent = self.payment_intents.get(pid)
        if intent is None:
            raise StripeError(404, "invalid_request_error", f"No such payment_intent: '{pid}'", "resource_missing", "intent")
        return intent

    def _get_payment_intent(self, params: dict[str, Any], pid: str) -> dict[str, Any]:
        return self._intent(pid)

    def _confirm_payment_intent(self, params: dict[str, Any], pid: str) -> dict[str, Any]:
        intent = self._intent(pid)
        if intent["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
            raise StripeError(
                400,
                "invalid_request_error",
                f"This PaymentIntent's status is {intent['status']}, so it cannot be confirmed.",
                "payment_intent_unexpected_state",
            )
        method = params.get("payment_method") or intent.get("payment_method")
        if not method:
            raise StripeError(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                "payment_intent_unexpected_state",
            )
        automatic = intent.get("automatic_payment_methods") or {}
        if automatic.get("enabled") and automatic.get("allow_redirects") != "never" and not params.get("return_url"):
            raise StripeError(
                400,
                "invalid_request_error",
                "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these "
                "payment methods might redirect your customer off of your page, you must provide a `return_url`.",
                None,
                "return_url",
            )
        intent["payment_method"] = method
        if method in self.DECLINING_METHODS:
            decline = self.DECLINING_METHODS[method]
            intent.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": decline,
                    "message": "Your card was declined.",
                },
            )
            self._emit("payment_intent.payment_failed", intent)
            self._invoice_settled(intent, paid=False)
            error = StripeError(402, "card_error", "Your card was declined.", "card_declined")
            raise error
        if method in self.ACTION_METHODS and intent["status"] != "requires_action":
            intent.update(
                status="requires_action", next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            )
            return intent
        self._succeed(intent)
        return intent

    def _succeed(self, intent: dict[str, Any]) -> None:
        intent.update(
            status="succeeded", amount_received=intent["amount"], next_action=None, last_payment_error=None, latest_charge=_id("ch")
        )
        self._emit("payment_intent.succeeded", intent)
        self._invoice_settled(intent, paid=True)

    def _cancel_payment_intent(self, params: dict[str, Any], pid: str) -> dict[str, Any]:
        intent = self._intent(pid)
        if intent["status"] in ("succeeded", "canceled"):
            raise StripeError(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                "payment_intent_unexpected_state",
            )
        intent.update(
            status="canceled",
            canceled_at=int(self.now()),
            cancellation_reason=params.get("cancellation_reason") or "requested_by_customer",
        )
        self._emit("payment_intent.canceled", intent)
        return intent

    def authenticate(self, pid: str) -> dict[str, Any]:
        """The customer completes 3-D Secure in Stripe.js."""
        with self._lock:
            intent = self._intent(pid)
            if intent["status"] == "requires_action":
                self._succeed(intent)
            return intent

    # customers, prices, subscriptions ----------------------------------------------------------
    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = from_fixture(
            "customer",
            id=_id("cus"),
            email=params.get("email"),
            name=params.get("name"),
            description=params.get("description"),
            metadata=params.get("metadata") or {},
            created=int(self.now()),
            balance=0,
            delinquent=False,
            discount=None,
            address=None,
            shipping=None,
            phone=None,
        )
        self.customers[customer["id"]] = customer
        self._emit("customer.created", customer)
        return customer

    def _get_customer(self, params: dict[str, Any], cid: str) -> dict[str, Any]:
        customer = self.customers.get(cid)
        if customer is None:
            raise StripeError(404, "invalid_request_error", f"No such customer: '{cid}'", "resource_missing", "customer")
        return customer

    def add_price(self, price_id: str, unit_amount: int, currency: str, interval: str = "month") -> dict[str, Any]:
        price = from_fixture(
            "price",
            id=price_id,
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            currency=currency,
            recurring={"interval": interval, "interval_count": 1, "meter": None, "usage_type": "licensed", "trial_period_days": None},
            created=int(self.now()),
            type="recurring",
            transform_quantity=None,
        )
        self.prices[price_id] = price
        return price

    def _create_price(self, params: dict[str, Any]) -> dict[str, Any]:
        recurring = params.get("recurring") or {}
        return self.add_price(
            _id("price"), _int_param(params, "unit_amount") or 0, str(params.get("currency")), recurring.get("interval", "month")
        )

    def _get_price(self, params: dict[str, Any], price_id: str) -> dict[str, Any]:
        price = self.prices.get(price_id)
        if price is None:
            raise StripeError(404, "invalid_request_error", f"No such price: '{price_id}'", "resource_missing", "price")
        return price

    def _create_subscription(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._get_customer({}, str(params.get("customer")))
        items = params.get("items")
        if not isinstance(items, list) or not items:
            raise StripeError(400, "invalid_request_error", "Missing required param: items.", "parameter_missing", "items")
        price_id = str(items[0].get("price"))
        if price_id not in self.prices:
            raise StripeError(400, "invalid_request_error", f"No such price: '{price_id}'", "resource_missing", "items[0][price]")
        price = self.prices[price_id]
        incomplete = params.get("payment_behavior") == "default_incomplete"
        if not incomplete and not (customer.get("invoice_settings") or {}).get("default_payment_method"):
            raise StripeError(
                400,
                "invalid_request_error",
                "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
            )
        now = int(self.now())
        period_end = now + {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}[price["recurring"]["interval"]]
        sub_id = _id("sub")
        invoice = from_fixture(
            "invoice",
            id=_id("in"),
            customer=customer["id"],
            status="paid",
            amount_due=price["unit_amount"],
            amount_paid=price["unit_amount"],
            amount_remaining=0,
            currency=price["currency"],
            created=now,
            period_start=now,
            period_end=period_end,
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": params.get("metadata") or {}, "subscription": sub_id},
            },
        )
        invoice.pop("subscription", None)  # removed in 2025-03-31: parent.subscription_details.subscription
        self.invoices[invoice["id"]] = invoice
        if incomplete:
            # The first invoice waits for the customer to confirm its payment (Stripe.js, with the
            # invoice's confirmation secret); paying it activates the subscription.
            intent = self._create_payment_intent(
                {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer["id"], "metadata": {}}
            )
            invoice.update(status="open", amount_paid=0, amount_remaining=price["unit_amount"])
            self._invoice_payments[intent["id"]] = invoice["id"]
            self._confirmation_secrets[invoice["id"]] = {"client_secret": intent["client_secret"], "type": "payment_intent"}
        subscription = from_fixture(
            "subscription",
            id=sub_id,
            customer=customer["id"],
            status="incomplete" if incomplete else "active",
            created=now,
            start_date=now,
            billing_cycle_anchor=now,
            canceled_at=None,
            cancel_at=None,
            ended_at=None,
            currency=price["currency"],
            latest_invoice=invoice["id"],
            metadata=params.get("metadata") or {},
            items={
                "object": "list",
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
                "data": [
                    {
                        "id": _id("si"),
                        "object": "subscription_item",
                        "created": now,
                        "quantity": 1,
                        "price": price,
                        "plan": _plan_of(price),
                        "subscription": sub_id,
                        "current_period_start": now,
                        "current_period_end": period_end,
                        "metadata": {},
                        "discounts": [],
                        "tax_rates": [],
                    }
                ],
            },
        )
        self.subscriptions[sub_id] = subscription
        self._emit("customer.subscription.created", subscription)
        if not incomplete:
            self._emit("invoice.paid", invoice)
        return self._expanded(subscription, params)

    def _expanded(self, subscription: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """``expand[]=latest_invoice`` (and its includable ``confirmation_secret``), as Stripe expands."""
        expand = params.get("expand") or []
        if not any(str(path).startswith("latest_invoice") for path in expand):
            return subscription
        invoice = copy.deepcopy(self.invoices[subscription["latest_invoice"]])
        if "latest_invoice.confirmation_secret" in expand:
            invoice["confirmation_secret"] = self._confirmation_secrets.get(invoice["id"])
        return {**subscription, "latest_invoice": invoice}

    def _invoice_settled(self, intent: dict[str, Any], paid: bool) -> None:
        """A subscription's first invoice, paid or failed by confirming its payment intent."""
        invoice_id = self._invoice_payments.get(intent["id"])
        if invoice_id is None:
            return
        invoice = self.invoices[invoice_id]
        if not paid:
            self._emit("invoice.payment_failed", invoice)
            return
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        self._emit("invoice.paid", invoice)
        subscription = self.subscriptions[invoice["parent"]["subscription_details"]["subscription"]]
        subscription["status"] = "active"
        self._emit("customer.subscription.updated", subscription)

    def _subscription(self, sub_id: str) -> dict[str, Any]:
        subscription = self.subscriptions.get(sub_id)
        if subscription is None:
            raise StripeError(404, "invalid_request_error", f"No such subscription: '{sub_id}'", "resource_missing", "subscription")
        return subscription

    def _get_subscription(self, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
        return self._subscription(sub_id)

    def _cancel_subscription(self, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
        subscription = self._subscription(sub_id)
        if subscription["status"] == "canceled":
            raise StripeError(
                400,
                "invalid_request_error",
                f"A canceled subscription can only update its cancellation_details and metadata. ({sub_id})",
                "resource_missing",
            )
        now = int(self.now())
        subscription.update(status="canceled", canceled_at=now, ended_at=now)
        self._emit("customer.subscription.deleted", subscription)
        return subscription

    # checkout page ---------------------------------------------------------------------------
    def _checkout_page(self, request: Request, sid: str) -> Response:
        session = self.sessions.get(sid)
        if session is None:
            return Response("Unknown Checkout Session", status=404)
        amount = f"{session['amount_total']} {str(session['currency']).upper()} (minor units)"
        state = html.escape(session["status"])
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Local Stripe Checkout</title></head>
<body><main><h1>Local Stripe Checkout</h1><p id="amount">{html.escape(amount)}</p><p id="status">Session {state}</p>
<form method="post"><button name="action" value="pay" id="pay">Pay</button>
<button name="action" value="cancel" id="cancel">Cancel</button></form></main></body></html>"""
        return Response(body, mimetype="text/html")

    def _checkout_submit(self, request: Request, sid: str) -> Response:
        session = self.sessions.get(sid)
        if session is None:
            return Response("Unknown Checkout Session", status=404)
        if request.form.get("action") == "pay" and session["status"] == "open":
            self.complete_session(sid)
            return redirect(str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", sid), code=303)
        return redirect(str(session.get("cancel_url") or self.public_url), code=303)

    # controls --------------------------------------------------------------------------------
    def _control_complete(self, request: Request, sid: str) -> dict[str, Any]:
        options = request.get_json(silent=True) or {}
        return self.complete_session(sid, paid=options.get("paid", True))

    def _control_expire(self, request: Request, sid: str) -> dict[str, Any]:
        self._expire_checkout_session({}, sid)
        return self.events[-1]

    def _control_fail_next(self, request: Request) -> dict[str, Any]:
        options = request.get_json(silent=True) or {}
        self.fail_next(
            options.get("path_prefix", "/v1/"),
            int(options.get("status", 402)),
            options.get("type", "card_error"),
            options.get("message", "Your card was declined."),
            options.get("code"),
            int(options.get("times", 1)),
        )
        return {"ok": True}

    def _control_events(self, request: Request) -> dict[str, Any]:
        return {"data": self.events}

    def _control_reset(self, request: Request) -> dict[str, Any]:
        self.reset()
        return {"ok": True}
