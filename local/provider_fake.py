"""What the local Stripe and the local PayPal share: an explicit route table, the API skeleton
(authentication, armed failures, lost answers, idempotent replay, slow answers, a record of every
exchange), webhook delivery, and the test controls under ``/_fake`` (not part of either API).

A provider fake declares its routes as ``Route(method, rule, handler, kind)`` in the module of the
resource family they serve, so every handler has a caller a reader can find, and fills in the few
places where the providers differ (``check_credentials``, ``parse``, ``idempotency_key``, ``replay``,
``lost_answer``, ``unknown_route``, ``answer_headers``)."""

from __future__ import annotations

import copy
import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import ClosingIterator

from local.hosts import refusal, served_names
from local.webhook_delivery import Disorder, Headers, Transport, WebhookSender, default_disorder


class Kind(Enum):
    API = "api"  # authenticated, replayed by idempotency key, can fail on demand; recorded
    ENDPOINT = "endpoint"  # the provider's own authentication (an OAuth token endpoint); recorded
    PAGE = "page"  # pages and files a browser or an SDK fetches
    CONTROL = "control"  # test controls, not part of the provider's API


@dataclass(frozen=True)
class Route:
    """``handler(fake, params, **path_args)`` for API routes, ``handler(fake, request, **path_args)``
    for the others; an API handler answers its body (sent with ``status``) or raises the provider's error.
    ``replayed_status`` is what a repeated idempotency key is answered with, where the provider
    documents a different one (PayPal: 200 instead of 201). ``params`` names the provider's own
    definition of the route's parameters (Stripe: the SDK's params class), for unknown ones."""

    method: str
    rule: str
    handler: Callable[..., Any]
    kind: Kind = Kind.API
    status: int = 200
    replayed_status: int | None = None
    params: str | None = None


class ProviderError(Exception):
    """An error the provider answers; each provider shapes its own body. ``saved`` is False for a
    refusal the provider does not keep under the request's idempotency key (Stripe: a request that
    failed validation, since the endpoint never began executing)."""

    status: int = 500
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only default, replaced per instance
    saved: bool = True

    def body(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class Exchange:
    """One call as it crossed the wire, with the parameters the fake decoded (None when the call was
    refused before that), for validation against the provider's own definitions."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    params: Any
    status: int
    response_headers: dict[str, str]
    response_body: bytes

    def answer(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


@dataclass
class Armed:
    """A failure or a lost answer waiting for the next ``times`` requests under ``prefix``."""

    prefix: str
    error: ProviderError
    times: int = 1


@dataclass
class Replay:
    at: float
    fingerprint: str
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    path: str = ""


class Inspector(Protocol):
    """Sees every exchange and every event, to check them against the provider's own definitions."""

    def exchange(self, exchange: Exchange) -> None: ...

    def event(self, event: dict[str, Any]) -> None: ...


class ProviderFake:
    """Thread-safe: one lock around every request's work; a delayed request sleeps outside it."""

    def __init__(self, public_url: str, routes: Iterable[Route], webhook_url: str | None) -> None:
        self.public_url = public_url.rstrip("/")
        self.webhook_url = webhook_url
        # How webhooks reach webhook_url: out of order, concurrently, sometimes twice, unless a test
        # sets another Disorder (or a transport that delivers in-process) before the first event.
        self.disorder: Disorder = default_disorder()
        self.webhook_transport: Transport | None = None
        self.inspector: Inspector | None = None
        # Where a person's browser goes instead of a return address nothing answers (the local
        # stack's page saying what happened; local.pages.browser_return). None: always the address.
        self.explained_returns: str | None = None
        self._sender: WebhookSender | None = None
        self._in_flight = 0  # delayed requests and inspections not yet done
        self._local = threading.local()
        self._lock = threading.RLock()
        self._routes: Sequence[Route] = (
            *routes,
            Route("GET", "/_fake/events", ProviderFake.control_events, Kind.CONTROL),
            Route("POST", "/_fake/reset", ProviderFake.control_reset, Kind.CONTROL),
        )
        self._map = Map([Rule(route.rule, methods=[route.method], endpoint=index) for index, route in enumerate(self._routes)])
        self.reset()

    # state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.events: list[dict[str, Any]] = []
            self.exchanges: list[Exchange] = []
            self._replays: dict[tuple[str, ...], Replay] = {}
            self._failures: list[Armed] = []
            self._lost_answers: list[Armed] = []
            self._delays: list[tuple[str, float]] = []
            self.reset_state()

    def reset_state(self) -> None:
        """The provider's own objects, as a new account has them."""
        raise NotImplementedError

    def now(self) -> float:
        return time.time()

    # failures on demand ------------------------------------------------------------------------
    def arm_failure(self, path_prefix: str, error: ProviderError, times: int = 1) -> None:
        """The next ``times`` requests under ``path_prefix`` fail with ``error`` before doing anything."""
        with self._lock:
            self._failures.append(Armed(path_prefix, error, times))

    def lose_next_answer(self, path_prefix: str, times: int = 1) -> None:
        """The next requests under ``path_prefix`` are carried out and their answers lost on the way
        back (the caller sees the provider's gateway error): a retry with the same idempotency key
        gets the provider's replay; a caller that gives up never learns the result."""
        with self._lock:
            self._lost_answers.append(Armed(path_prefix, self.lost_answer(), times))

    def delay_next(self, path_prefix: str, seconds: float) -> None:
        """The next matching request takes this long: a slow provider, for overlapping-request tests."""
        with self._lock:
            self._delays.append((path_prefix, seconds))

    def reset_failures(self) -> None:
        """Nothing armed any more: failures, lost answers and delays not yet met are dropped."""
        with self._lock:
            self._failures.clear()
            self._lost_answers.clear()
            self._delays.clear()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Waits for delayed requests and the inspector's checks to finish, so that they cannot land
        in the next test's state."""
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def _take(armed: list[Armed], path: str) -> ProviderError | None:
        for entry in armed:
            if path.startswith(entry.prefix):
                entry.times -= 1
                if entry.times <= 0:
                    armed.remove(entry)
                return entry.error
        return None

    def _pause(self, path: str) -> None:
        with self._lock:
            match = next((entry for entry in self._delays if path.startswith(entry[0])), None)
            if match is None:
                return
            self._delays.remove(match)
            self._in_flight += 1
        try:
            time.sleep(match[1])  # outside the lock: other requests go on meanwhile
        finally:
            with self._lock:
                self._in_flight -= 1

    # webhooks --------------------------------------------------------------------------------
    def send_webhook(self, payload: bytes, headers: Headers) -> None:
        if not self.webhook_url:
            return
        if self._sender is None:
            self._sender = WebhookSender(self.webhook_url, self.disorder, type(self).__name__, self.webhook_transport)
        self._sender.send(payload, headers)

    def deliver_webhooks(self, url: str | None, transport: Transport | None = None, disorder: Disorder | None = None) -> None:
        """From now on, webhooks go to ``url`` (through ``transport`` when given: tests deliver
        in-process) as ``disorder`` says (the run's seed by default); None stops delivery."""
        self.drain_webhooks()
        with self._lock:
            if self._sender is not None:
                self._sender.close()
            self.webhook_url, self.webhook_transport = url, transport
            self.disorder = disorder or default_disorder()
            self._sender = None

    def drain_webhooks(self, timeout: float = 30.0) -> bool:
        """Waits until every webhook sent so far was delivered (or given up on)."""
        return self._sender.drain(timeout) if self._sender else True

    # where the providers differ ------------------------------------------------------------------
    def check_credentials(self, request: Request) -> Response | None:
        """The provider's refusal of a caller without valid credentials, or None."""
        raise NotImplementedError

    def parse(self, request: Request) -> Any:
        raise NotImplementedError

    def idempotency_key(self, request: Request) -> str | None:
        raise NotImplementedError

    def replay(self, route: Route, stored: Replay, fingerprint: str, key: str, request: Request) -> Response | None:
        """The answer to a request whose key was seen before, or None to carry it out anew."""
        raise NotImplementedError

    def key_scope(self, request: Request, key: str) -> tuple[str, ...]:
        """Where an idempotency key is unique: by default per path."""
        return (request.path, key)

    def check_params(self, route: Route, params: Any) -> None:
        """Raises the provider's error for parameters it does not know (by default: none checked)."""

    def lost_answer(self) -> ProviderError:
        raise NotImplementedError

    def unknown_route(self, request: Request, status: int) -> ProviderError:
        raise NotImplementedError

    def answer_headers(self) -> dict[str, str]:
        return {}

    # WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Only the loopback names and the one public_url gives (local.hosts: DNS rebinding).
        refused = refusal(environ, served_names([urlsplit(self.public_url).hostname or ""]))
        if refused is not None:
            return refused(environ, start_response)
        request = Request(environ)
        try:
            index, args = self._map.bind_to_environ(environ).match()
        except HTTPException as error:
            return self.error_response(self.unknown_route(request, error.code or 404))(environ, start_response)
        route = self._routes[index]
        params: Any = None
        # The inspector's checks (slow the first time a schema is built) run once the answer is
        # sent, so that they never make a caller's read time out.
        inspections: list[Callable[[], None]] = []
        self._local.inspections = inspections
        try:
            if route.kind is Kind.API:
                response, params = self._api(request, route, args)
            else:
                with self._lock:
                    try:
                        result = route.handler(self, request, **args)
                    except ProviderError as error:
                        result = self.error_response(error)
                response = result if isinstance(result, Response) else self.json_response(200, result)
            if route.kind in (Kind.API, Kind.ENDPOINT):
                exchange = self._record(request, params, response)
                if self.inspector is not None:
                    inspections.append(functools.partial(self.inspector.exchange, exchange))
        finally:
            self._local.inspections = None
        if not inspections:
            return response(environ, start_response)
        with self._lock:
            self._in_flight += 1
        return ClosingIterator(response(environ, start_response), [functools.partial(self._inspect, inspections)])

    def _inspect(self, inspections: list[Callable[[], None]]) -> None:
        try:
            for inspection in inspections:
                inspection()
        finally:
            with self._lock:
                self._in_flight -= 1

    def _api(self, request: Request, route: Route, args: Mapping[str, Any]) -> tuple[Response, Any]:
        refused = self.check_credentials(request)
        if refused is not None:
            return refused, None
        self._pause(request.path)
        with self._lock:
            failure = self._take(self._failures, request.path)
            if failure is not None:
                return self.error_response(failure), None
            try:
                params = self.parse(request)
            except ProviderError as error:
                return self.error_response(error), None
            key = self.idempotency_key(request) if request.method == "POST" else None
            fingerprint = json.dumps(params, sort_keys=True)
            scope = self.key_scope(request, key) if key else None
            stored = self._replays.get(scope) if scope else None
            if key and stored is not None:
                replayed = self.replay(route, stored, fingerprint, key, request)
                if replayed is not None:
                    return replayed, params
            saved = True
            try:
                self.check_params(route, params)
                status, body = route.status, route.handler(self, params, **args)
            except ProviderError as error:
                status, body, saved = error.status, error.body(), error.saved
            if scope and saved:
                # The provider replays the answer it gave then, not the object as it is now.
                replay = Replay(self.now(), fingerprint, status, copy.deepcopy(body), request.method, request.path)
                self._replays[scope] = replay
            lost = self._take(self._lost_answers, request.path)
            if lost is not None:
                return self.error_response(lost), params
            return self.json_response(status, body), params

    def _record(self, request: Request, params: Any, response: Response) -> Exchange:
        exchange = Exchange(
            request.method,
            request.full_path.rstrip("?"),
            dict(request.headers),
            request.get_data(),
            params,
            response.status_code,
            dict(response.headers),
            response.get_data(),
        )
        with self._lock:
            self.exchanges.append(exchange)
        return exchange

    def record_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.inspector is None:
            return
        pending = getattr(self._local, "inspections", None)
        if pending is None:
            self.inspector.event(event)  # not in a request: checked at once
        else:
            pending.append(functools.partial(self.inspector.event, event))

    def json_response(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json", headers={**self.answer_headers(), **(headers or {})})

    def error_response(self, error: ProviderError) -> Response:
        return self.json_response(error.status, error.body(), error.headers)

    # test controls ---------------------------------------------------------------------------
    def control_events(self, request: Request) -> dict[str, Any]:
        return {"data": self.events}

    def control_reset(self, request: Request) -> dict[str, Any]:
        self.reset()
        return {"ok": True}
