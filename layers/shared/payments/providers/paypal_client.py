"""PayPal Orders v2, Payments v2 through ``requests``: an OAuth2
client-credentials token cached across warm invocations, a timeout on every call, a
``PayPal-Request-Id`` on every call that creates or moves money, and PayPal's errors translated."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from payments.errors import ApiError, NotFound, ProviderFailure, ProviderRejected, ProviderUnavailable
from payments.observability import logger
from payments.retries import with_backoff
from payments.secrets import resolve_secrets
from payments.settings import Settings

# A token is renewed this long before PayPal says it expires.
TOKEN_MARGIN_SECONDS = 300
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Event notifications asked for in one listing (PayPal's page; more in a window is a next run's).
EVENTS_PAGE_SIZE = 300


class _Retryable(Exception):
    def __init__(self, error: ApiError) -> None:
        self.error = error


def _describe(body: dict[str, Any]) -> str:
    details = body.get("details") or []
    if details and isinstance(details[0], dict):
        detail = details[0]
        return f"{detail.get('issue', body.get('name', 'ERROR'))}: {detail.get('description') or body.get('message', '')}".strip()
    return str(body.get("message") or body.get("error_description") or body.get("name") or "PayPal refused the request")


def _next_page(page: dict[str, Any]) -> str | None:
    """The path and query of a list's ``next`` link, asked of our own base URL: our token is never
    sent to a host a response names."""
    links = page.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str):
            parts = urlsplit(link["href"])
            return f"{parts.path}?{parts.query}" if parts.query else parts.path
    return None


class PayPalClient:
    def __init__(
        self,
        base_url: str,
        credentials: Callable[[], tuple[str, str]],
        *,
        timeout_seconds: float = 4.0,
        connect_timeout_seconds: float = 1.5,
        retry_budget_seconds: float = 6.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._timeout = (connect_timeout_seconds, timeout_seconds)
        self._retry_budget = retry_budget_seconds
        self._session = session or requests.Session()
        self._token: str | None = None
        self._token_expires_at = 0.0

    @staticmethod
    def credentials(settings: Settings) -> tuple[str, str]:
        """Read when a token is first needed, not at start-up: secrets may come from SSM."""
        client_id, secret = resolve_secrets(
            (settings.paypal_client_id, settings.paypal_client_id_parameter, "PayPal client id"),
            (settings.paypal_client_secret, settings.paypal_client_secret_parameter, "PayPal client secret"),
        )
        return client_id, secret

    # auth ------------------------------------------------------------------------------------
    def _access_token(self, *, renew: bool = False) -> str:
        if self._token and not renew and time.monotonic() < self._token_expires_at:
            return self._token
        client_id, secret = self._credentials()
        try:
            response = self._session.post(
                f"{self.base_url}/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException:
            raise ProviderUnavailable() from None
        if response.status_code != 200:
            logger.error("PayPal refused our client credentials", extra={"status": response.status_code})
            raise ProviderFailure("The payment provider rejected the server's credentials")
        body = response.json()
        self._token = str(body["access_token"])
        self._token_expires_at = time.monotonic() + max(0, int(body.get("expires_in", 0)) - TOKEN_MARGIN_SECONDS)
        return self._token

    # transport -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, body: dict[str, Any] | None = None, request_id: str | None = None) -> dict[str, Any]:
        """One API call; retried on throttling, 5xx and connection failures with the same
        PayPal-Request-Id (so never doubled), within the retry budget."""
        try:
            return with_backoff(lambda: self._attempt(method, path, body, request_id), _Retryable, self._retry_budget)
        except _Retryable as retryable:
            raise retryable.error from None

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None, request_id: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Prefer": "return=representation"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        response = None
        # A cached token PayPal refuses (revoked, expired early) is renewed once; a fresh one is not.
        cached = self._token is not None and time.monotonic() < self._token_expires_at
        for renew in (False, True) if cached else (False,):
            headers["Authorization"] = f"Bearer {self._access_token(renew=renew)}"
            try:
                response = self._session.request(method, f"{self.base_url}{path}", json=body, headers=headers, timeout=self._timeout)
            except requests.RequestException:
                raise _Retryable(ProviderUnavailable()) from None
            if response.status_code != 401:
                break  # a 401 means the cached token was revoked or expired early: renew it once
        assert response is not None
        if response.status_code < 300:
            return dict(response.json()) if response.content else {}
        return self._fail(response, path)

    @staticmethod
    def _fail(response: requests.Response, path: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        debug_id = body.get("debug_id") or response.headers.get("Paypal-Debug-Id")
        logger.info(
            "PayPal refused a request",
            extra={"path": path, "status": response.status_code, "paypal_name": body.get("name"), "debug_id": debug_id},
        )
        if response.status_code == 409 and _in_progress(body):
            # The same PayPal-Request-Id is still being worked on by PayPal: asked again under that
            # id after a wait, as PayPal says, never refused (a refused refund would be given up).
            raise _Retryable(ProviderUnavailable())
        if response.status_code in RETRYABLE_STATUSES:
            raise _Retryable(ProviderUnavailable() if response.status_code in (429, 503) else ProviderFailure())
        if response.status_code == 404:
            raise NotFound("PayPal resource not found")
        if response.status_code in (401, 403):
            raise ProviderFailure("The payment provider rejected the server's credentials")
        raise ProviderRejected(_describe(body))

    # orders ----------------------------------------------------------------------------------
    def create_order(self, order: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._request("POST", "/v2/checkout/orders", body=order, request_id=request_id)

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v2/checkout/orders/{order_id}")

    def capture_order(self, order_id: str, request_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v2/checkout/orders/{order_id}/capture", body={}, request_id=request_id)

    # payments --------------------------------------------------------------------------------
    def get_capture(self, capture_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v2/payments/captures/{capture_id}")

    # webhook events --------------------------------------------------------------------------
    def list_events(self, event_type: str, start_time: str, end_time: str) -> Iterator[dict[str, Any]]:
        """PayPal's event notifications of one type created between two times (RFC 3339), newest
        first: what its webhooks delivered, or tried to, for the reconciliation to apply. Pages
        follow PayPal's ``links`` (``rel`` "next"), as PayPal documents its lists: narrowing the
        times instead would lose the rest of a second that fills more than a page."""
        query = urlencode({"event_type": event_type, "start_time": start_time, "end_time": end_time, "page_size": EVENTS_PAGE_SIZE})
        path: str | None = f"/v1/notifications/webhooks-events?{query}"
        while path is not None:
            page = self._request("GET", path)
            yield from list(page.get("events") or [])
            path = _next_page(page)

    def refund_capture(self, capture_id: str, refund: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v2/payments/captures/{capture_id}/refund", body=refund, request_id=request_id)


def _in_progress(body: Any) -> bool:
    """PayPal's 409 RESOURCE_CONFLICT whose issue is PREVIOUS_REQUEST_IN_PROGRESS."""
    details = body.get("details") if isinstance(body, dict) else None
    return isinstance(details, list) and any(
        isinstance(detail, dict) and detail.get("issue") == "PREVIOUS_REQUEST_IN_PROGRESS" for detail in details
    )
