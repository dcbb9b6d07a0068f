"""WSGI application of the local PayPal: the REST API, an approval page at ``/checkoutnow``, and
test controls under ``/_fake`` (not part of PayPal's API)."""

from __future__ import annotations

import base64
import copy
import hmac
import html
import json
import secrets
import string
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from local.webhook_delivery import WebhookSender

ZERO_DECIMAL = {"JPY", "HUF", "TWD"}
SUPPORTED_CURRENCIES = {
    "AUD",
    "BRL",
    "CAD",
    "CNY",
    "CZK",
    "DKK",
    "EUR",
    "HKD",
    "HUF",
    "ILS",
    "JPY",
    "MYR",
    "MXN",
    "TWD",
    "NZD",
    "NOK",
    "PHP",
    "PLN",
    "GBP",
    "SGD",
    "SEK",
    "CHF",
    "THB",
    "USD",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _paypal_id(length: int = 17) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


@dataclass
class PayPalError(Exception):
    status: int
    name: str
    message: str
    issue: str | None = None
    description: str | None = None
    field: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "message": self.message, "debug_id": secrets.token_hex(7)}
        if self.issue:
            detail: dict[str, Any] = {"issue": self.issue, "description": self.description or self.message}
            if self.field:
                detail.update(field=self.field, location="body")
            body["details"] = [detail]
        return body


def unprocessable(issue: str, description: str, field: str | None = None) -> PayPalError:
    return PayPalError(
        422,
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically incorrect, or failed business validation.",
        issue,
        description,
        field,
    )


def invalid(issue: str, description: str, field: str | None = None) -> PayPalError:
    return PayPalError(
        400, "INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema.", issue, description, field
    )


def not_found(what: str) -> PayPalError:
    return PayPalError(
        404,
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
        "INVALID_RESOURCE_ID",
        "Specified resource ID does not exist. Please check the resource ID and try again.",
    )


@dataclass
class Exchange:
    """One API call as it crossed the wire, for validation against PayPal's descriptions."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-local"


class _Signer:
    """The fake's own message-signing certificate (subject as PayPal's), issued by its own root."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        now = datetime.now(UTC)
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local PayPal Root CA")])
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.com")]))
            .issuer_name(root_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(root_key, hashes.SHA256())
        )
        self.root_pem = root.public_bytes(serialization.Encoding.PEM).decode()
        self.chain_pem = leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)


class PayPalFake:
    def __init__(
        self,
        public_url: str = "http://127.0.0.1:12112",
        client_id: str = "local-paypal-client",
        client_secret: str = "local-paypal-secret",  # noqa: S107 - the fake's own, local-only credential
        webhook_url: str | None = None,
        webhook_id: str = "8PT597110X687430LKGECATA",
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.webhook_url, self.webhook_id = webhook_url, webhook_id
        self._signer = _Signer()
        self._sender: WebhookSender | None = None
        self._lock = threading.RLock()
        self.token_lifetime = 32400
        self.reset()
        self._map = Map(
            [
                Rule("/v1/oauth2/token", methods=["POST"], endpoint="token"),
                Rule("/v2/checkout/orders", methods=["POST"], endpoint="create_order"),
                Rule("/v2/checkout/orders/<order_id>", methods=["GET"], endpoint="get_order"),
                Rule("/v2/checkout/orders/<order_id>/capture", methods=["POST"], endpoint="capture_order"),
                Rule("/v2/payments/captures/<capture_id>", methods=["GET"], endpoint="get_capture"),
                Rule("/v2/payments/captures/<capture_id>/refund", methods=["POST"], endpoint="refund_capture"),
                Rule("/v2/payments/refunds/<refund_id>", methods=["GET"], endpoint="get_refund"),
                Rule("/v1/notifications/verify-webhook-signature", methods=["POST"], endpoint="verify_webhook_signature"),
                Rule(CERT_PATH, methods=["GET"], endpoint="certificate"),
                Rule("/checkoutnow", methods=["GET"], endpoint="approval_page"),
                Rule("/checkoutnow", methods=["POST"], endpoint="approval_submit"),
                Rule("/_fake/orders/<order_id>/approve", methods=["POST"], endpoint="control_approve"),
                Rule("/_fake/events", methods=["GET"], endpoint="control_events"),
                Rule("/_fake/reset", methods=["POST"], endpoint="control_reset"),
            ]
        )

    # state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.tokens: dict[str, float] = {}
            self.orders: dict[str, dict[str, Any]] = {}
            self.captures: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.events: list[dict[str, Any]] = []
            self.deliveries: dict[str, dict[str, Any]] = {}  # transmission id -> what was signed
            self.exchanges: list[Exchange] = []
            self.token_requests = 0
            self._idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
            self._failures: list[tuple[str, PayPalError | int]] = []
            self._lost_answers: list[str] = []
            self.deny_next_capture = False

    def expire_tokens(self) -> None:
        """Every issued access token stops working, as when PayPal rotates them early."""
        with self._lock:
            self.tokens.clear()

    def fail_next(self, path_prefix: str, failure: PayPalError | int) -> None:
        """The next request under ``path_prefix`` fails with this error (or bare HTTP status)."""
        with self._lock:
            self._failures.append((path_prefix, failure))

    def reset_failures(self) -> None:
        """Nothing armed any more: the failures and lost answers not yet met are dropped."""
        with self._lock:
            self._failures.clear()
            self._lost_answers.clear()

    def lose_next_answer(self, path_prefix: str) -> None:
        """The next request under ``path_prefix`` is carried out, and its answer lost on the way
        back (the caller sees a 502 gateway error, as when a connection drops after PayPal acted)."""
        with self._lock:
            self._lost_answers.append(path_prefix)

    # WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        if request.path.startswith(("/v1/", "/v2/")) and not request.path.startswith("/v1/notifications/certs/"):
            with self._lock:
                self.exchanges.append(
                    Exchange(
                        request.method,
                        request.full_path.rstrip("?"),
                        dict(request.headers),
                        request.get_data(),
                        response.status_code,
                        dict(response.headers),
                        response.get_data(),
                    )
                )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return self._json(404, not_found(request.path).body())
        except HTTPException as error:
            return self._json(error.code or 405, {"name": "METHOD_NOT_SUPPORTED", "message": str(error), "debug_id": secrets.token_hex(7)})
        with self._lock:
            try:
                if request.path.startswith(("/v2/", "/v1/notifications/")) and endpoint != "certificate":
                    return self._api(request, endpoint, args)
                result = getattr(self, f"_{endpoint}")(request, **args)
            except PayPalError as error:
                return self._json(error.status, error.body())
        return result if isinstance(result, Response) else self._json(200, result)

    def _api(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> Response:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or self.tokens.get(token, 0) < time.time():
            return self._json(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})
        for index, (prefix, failure) in enumerate(self._failures):
            if request.path.startswith(prefix):
                del self._failures[index]
                if isinstance(failure, int):
                    return self._json(
                        failure,
                        {
                            "name": "INTERNAL_SERVER_ERROR",
                            "message": "An internal server error occurred.",
                            "debug_id": secrets.token_hex(7),
                        },
                    )
                raise failure
        body = request.get_json(silent=True) if request.get_data() else {}
        if request.get_data() and body is None:
            raise PayPalError(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "MALFORMED_REQUEST_JSON",
                "The request JSON is not well formed.",
            )
        request_id = request.headers.get("PayPal-Request-Id")
        if request.method == "POST" and request_id and (request.path, request_id) in self._idempotent:
            status, stored = self._idempotent[(request.path, request_id)]
            return self._json(200 if status == 201 else status, stored)
        status, answer = getattr(self, f"_{endpoint}")(body or {}, **args)
        if request.method == "POST" and request_id:
            self._idempotent[(request.path, request_id)] = (status, answer)
        lost = next((prefix for prefix in self._lost_answers if request.path.startswith(prefix)), None)
        if lost is not None:
            self._lost_answers.remove(lost)
            return self._json(502, {"name": "INTERNAL_SERVER_ERROR", "message": "Bad gateway.", "debug_id": secrets.token_hex(7)})
        return self._json(status, answer)

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json", headers={"Paypal-Debug-Id": secrets.token_hex(7)})

    # oauth -----------------------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        self.token_requests += 1
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.client_id, self.client_secret):
            return self._json(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        if request.form.get("grant_type") != "client_credentials":
            return self._json(400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})
        token = "A21AA" + secrets.token_urlsafe(40)
        self.tokens[token] = time.time() + self.token_lifetime
        return self._json(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime,
                "nonce": f"{_now()}{secrets.token_hex(8)}",
            },
        )

    # orders ----------------------------------------------------------------------------------
    @staticmethod
    def _check_money(money: Any, field: str) -> tuple[str, Decimal]:
        if not isinstance(money, dict) or "currency_code" not in money or "value" not in money:
            raise invalid("MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", field)
        currency = str(money["currency_code"])
        if currency not in SUPPORTED_CURRENCIES:
            raise unprocessable("CURRENCY_NOT_SUPPORTED", "Currency code is not currently supported.", f"{field}/currency_code")
        try:
            value = Decimal(str(money["value"]))
        except InvalidOperation:
            raise invalid(
                "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.", f"{field}/value"
            ) from None
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) else 0
        if places > (0 if currency in ZERO_DECIMAL else 2):
            raise invalid(
                "DECIMAL_PRECISION", "If the currency supports decimals, only two decimal place precision is supported.", f"{field}/value"
            )
        if value <= 0:
            raise unprocessable(
                "CANNOT_BE_ZERO_OR_NEGATIVE",
                "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.",
                f"{field}/value",
            )
        return currency, value

    def _link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": f"{self.public_url}{path}", "rel": rel, "method": method}

    def _create_order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            raise invalid("INVALID_PARAMETER_VALUE", "A parameter value is not valid.", "/intent")
        units = body.get("purchase_units")
        if not isinstance(units, list) or not units:
            raise invalid("MISSING_REQUIRED_PARAMETER", "A required parameter is missing.", "/purchase_units")
        self._check_money(units[0].get("amount"), "/purchase_units/@reference_id=='default'/amount")
        order_id = _paypal_id()
        experience = ((body.get("payment_source") or {}).get("paypal") or {}).get("experience_context") or {}
        purchase_units = []
        for unit in units:
            kept = {key: unit[key] for key in ("amount", "custom_id", "description", "invoice_id", "soft_descriptor") if key in unit}
            purchase_units.append(
                {
                    "reference_id": unit.get("reference_id", "default"),
                    **kept,
                    "payee": {"email_address": "merchant@example.com", "merchant_id": "L2CALMERCHANT"},
                }
            )
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": "PAYER_ACTION_REQUIRED" if experience else "CREATED",
            "purchase_units": purchase_units,
            "create_time": _now(),
            "links": [
                self._link(f"/v2/checkout/orders/{order_id}", "self"),
                self._link(f"/checkoutnow?token={order_id}", "payer-action" if experience else "approve"),
                self._link(f"/v2/checkout/orders/{order_id}", "update", "PATCH"),
                self._link(f"/v2/checkout/orders/{order_id}/capture", "capture", "POST"),
            ],
        }
        if experience:
            order["payment_source"] = {"paypal": {}}
        addresses = experience or body.get("application_context") or {}
        self.orders[order_id] = {**order, "_return_url": addresses.get("return_url"), "_cancel_url": addresses.get("cancel_url")}
        return 201, order

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise not_found(order_id)
        return order

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value) for key, value in obj.items() if not key.startswith("_")}

    def _get_order(self, body: dict[str, Any], order_id: str) -> tuple[int, dict[str, Any]]:
        return 200, self._public(self._order(order_id))

    def approve(self, order_id: str) -> dict[str, Any]:
        """What the payer does on PayPal's approval page."""
        with self._lock:
            order = self._order(order_id)
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
                order["status"] = "APPROVED"
                order["update_time"] = _now()
                order["payer"] = {
                    "name": {"given_name": "Local", "surname": "Payer"},
                    "email_address": "payer@example.com",
                    "payer_id": "L2CALPAYER234",
                }
                order["payment_source"] = {
                    "paypal": {
                        "email_address": "payer@example.com",
                        "account_id": "L2CALPAYER234",
                        "account_status": "VERIFIED",
                        "name": {"given_name": "Local", "surname": "Payer"},
                    }
                }
                self._emit("CHECKOUT.ORDER.APPROVED", "checkout-order", self._public(order), "An order has been approved by buyer")
            return order

    def _capture_order(self, body: dict[str, Any], order_id: str) -> tuple[int, dict[str, Any]]:
        order = self._order(order_id)
        if order["status"] == "COMPLETED":
            raise unprocessable(
                "ORDER_ALREADY_CAPTURED", "Order already captured. If 'intent=CAPTURE' only one capture per order is allowed."
            )
        if order["status"] != "APPROVED":
            raise unprocessable(
                "ORDER_NOT_APPROVED",
                "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url "
                "returned as part of the HATEOAS links within the Create Order call or provide a valid `payment_source` in the request.",
            )
        capture_id = _paypal_id()
        denied = self.deny_next_capture
        self.deny_next_capture = False
        amount = order["purchase_units"][0]["amount"]
        capture = {
            "id": capture_id,
            "status": "DECLINED" if denied else "COMPLETED",
            "amount": amount,
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
            "custom_id": order["purchase_units"][0].get("custom_id"),
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": _now(),
            "update_time": _now(),
            "links": [
                self._link(f"/v2/payments/captures/{capture_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}/refund", "refund", "POST"),
                self._link(f"/v2/checkout/orders/{order_id}", "up"),
            ],
        }
        if capture["custom_id"] is None:
            del capture["custom_id"]
        self.captures[capture_id] = {**capture, "_refunded": "0"}
        order["status"] = "COMPLETED"
        order["update_time"] = _now()
        order["purchase_units"][0]["payments"] = {"captures": [capture]}
        self._emit(
            "PAYMENT.CAPTURE.DENIED" if denied else "PAYMENT.CAPTURE.COMPLETED",
            "capture",
            capture,
            f"Payment {'denied' if denied else 'completed'} for {amount['value']} {amount['currency_code']}",
        )
        return 201, self._public(order)

    # captures and refunds --------------------------------------------------------------------
    def _capture(self, capture_id: str) -> dict[str, Any]:
        capture = self.captures.get(capture_id)
        if capture is None:
            raise not_found(capture_id)
        return capture

    def _get_capture(self, body: dict[str, Any], capture_id: str) -> tuple[int, dict[str, Any]]:
        return 200, self._public(self._capture(capture_id))

    def _refund_capture(self, body: dict[str, Any], capture_id: str) -> tuple[int, dict[str, Any]]:
        capture = self._capture(capture_id)
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            raise unprocessable(
                "CAPTURE_FULLY_REFUNDED" if capture["status"] == "REFUNDED" else "REFUND_NOT_ALLOWED",
                "The capture has already been fully refunded" if capture["status"] == "REFUNDED" else "Capture cannot be refunded.",
            )
        captured = Decimal(capture["amount"]["value"])
        refunded = Decimal(capture["_refunded"])
        currency = capture["amount"]["currency_code"]
        if body.get("amount") is not None:
            refund_currency, value = self._check_money(body["amount"], "/amount")
            if refund_currency != currency:
                raise unprocessable(
                    "REFUND_CURRENCY_MISMATCH", "Refund must be in the same currency as the capture.", "/amount/currency_code"
                )
        else:
            value = captured - refunded
        if refunded + value > captured:
            raise unprocessable(
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has not yet been refunded.",
                "/amount/value",
            )
        refund_id = _paypal_id()
        text = f"{value:.0f}" if currency in ZERO_DECIMAL else f"{value:.2f}"
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": {"currency_code": currency, "value": text},
            "create_time": _now(),
            "update_time": _now(),
            "links": [self._link(f"/v2/payments/refunds/{refund_id}", "self"), self._link(f"/v2/payments/captures/{capture_id}", "up")],
        }
        for field in ("note_to_payer", "custom_id", "invoice_id"):
            if body.get(field):
                refund[field] = body[field]
        self.refunds[refund_id] = refund
        order = self.orders.get(str(capture["supplementary_data"]["related_ids"]["order_id"]))
        if order is not None:
            order["purchase_units"][0]["payments"].setdefault("refunds", []).append(refund)
        capture["_refunded"] = str(refunded + value)
        capture["status"] = "REFUNDED" if refunded + value == captured else "PARTIALLY_REFUNDED"
        capture["update_time"] = _now()
        self._emit("PAYMENT.CAPTURE.REFUNDED", "refund", refund, f"A {text} {currency} capture payment was refunded")
        return 201, copy.deepcopy(refund)

    def dashboard_refund(self, capture_id: str, value: str | None = None) -> dict[str, Any]:
        """A refund made in PayPal's dashboard: no custom_id, no request id of ours."""
        with self._lock:
            body = {"amount": {"currency_code": self.captures[capture_id]["amount"]["currency_code"], "value": value}} if value else {}
            return self._refund_capture(body, capture_id)[1]

    def refunded_total(self, capture_id: str) -> Decimal:
        return Decimal(self.captures[capture_id]["_refunded"])

    def _get_refund(self, body: dict[str, Any], refund_id: str) -> tuple[int, dict[str, Any]]:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise not_found(refund_id)
        return 200, copy.deepcopy(refund)

    # webhooks --------------------------------------------------------------------------------
    def _emit(self, event_type: str, resource_type: str, resource: dict[str, Any], summary: str) -> dict[str, Any]:
        event = {
            "id": f"WH-{_paypal_id(17)}-{_paypal_id(17)}",
            "event_version": "1.0",
            "create_time": _now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": copy.deepcopy(resource),
            "links": [],
        }
        self.events.append(event)
        if self.webhook_url:
            if self._sender is None:
                self._sender = WebhookSender(self.webhook_url)
            payload = json.dumps(event).encode()
            self._sender.send(payload, self.sign(payload, event))
        return event

    def sign(self, payload: bytes, event: dict[str, Any], webhook_id: str | None = None) -> dict[str, str]:
        """Headers of a delivery, as PayPal signs it: RSA-SHA256 over transmission id, time, webhook id
        and the body's CRC32, with the certificate served at PAYPAL-CERT-URL."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        transmission_id = secrets.token_hex(16)
        transmission_time = _now()
        webhook = webhook_id or self.webhook_id
        message = f"{transmission_id}|{transmission_time}|{webhook}|{zlib.crc32(payload)}".encode()
        signature = base64.b64encode(self._signer.key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
        with self._lock:
            self.deliveries[transmission_id] = {
                "event": copy.deepcopy(event),
                "webhook_id": webhook,
                "signature": signature,
                "time": transmission_time,
            }
        return {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": f"{self.public_url}{CERT_PATH}",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    @property
    def certificate_roots_pem(self) -> str:
        """The root the fake's signing certificate chains to: PAYPAL_CERTIFICATE_ROOTS for the API."""
        return self._signer.root_pem

    def _certificate(self, request: Request) -> Response:
        return Response(self._signer.chain_pem, mimetype="application/x-pem-file")

    def _verify_webhook_signature(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id", "webhook_event")
        missing = [name for name in required if not body.get(name)]
        if missing:
            raise invalid("MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", f"/{missing[0]}")
        delivery = self.deliveries.get(str(body["transmission_id"]))
        genuine = (
            delivery is not None
            and hmac.compare_digest(delivery["signature"], str(body["transmission_sig"]))
            and delivery["webhook_id"] == body["webhook_id"] == self.webhook_id
            and delivery["time"] == body["transmission_time"]
            and delivery["event"] == body["webhook_event"]
        )
        return 200, {"verification_status": "SUCCESS" if genuine else "FAILURE"}

    # approval page ---------------------------------------------------------------------------
    def _approval_page(self, request: Request) -> Response:
        order = self.orders.get(request.args.get("token", ""))
        if order is None:
            return Response("Unknown order", status=404)
        amount = order["purchase_units"][0]["amount"]
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Local PayPal</title></head>
<body><main><h1>Local PayPal</h1><p id="amount">{html.escape(amount["value"])} {html.escape(amount["currency_code"])}</p>
<p id="status">Order {html.escape(order["status"])}</p>
<form method="post"><input type="hidden" name="token" value="{html.escape(order["id"])}">
<button name="action" value="approve" id="approve">Pay with PayPal</button>
<button name="action" value="cancel" id="cancel">Cancel and return</button></form></main></body></html>"""
        return Response(body, mimetype="text/html")

    def _approval_submit(self, request: Request) -> Response:
        order = self.orders.get(request.form.get("token", ""))
        if order is None:
            return Response("Unknown order", status=404)
        if request.form.get("action") == "approve":
            self.approve(order["id"])
            target = order.get("_return_url") or self.public_url
            return redirect(
                f"{target}{'&' if '?' in target else '?'}{urlencode({'token': order['id'], 'PayerID': 'L2CALPAYER234'})}", code=303
            )
        target = order.get("_cancel_url") or self.public_url
        return redirect(f"{target}{'&' if '?' in target else '?'}{urlencode({'token': order['id']})}", code=303)

    # controls --------------------------------------------------------------------------------
    def _control_approve(self, request: Request, order_id: str) -> dict[str, Any]:
        return self._public(self.approve(order_id))

    def _control_events(self, request: Request) -> dict[str, Any]:
        return {"events": self.events}

    def _control_reset(self, request: Request) -> dict[str, Any]:
        self.reset()
        return {"ok": True}
