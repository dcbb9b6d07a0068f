"""Only the names a local server is reached by: every server of the local stack (the gateway, the
embedded DynamoDB, the local Stripe and PayPal) answers a request whose ``Host`` header names
another with a JSON 421, before anything is served.

They all listen on this machine, where any page a browser opens can make requests. A page whose
name an attacker rebinds to 127.0.0.1 (DNS rebinding) sends its own name as ``Host``: refused, it
cannot read /_local/token from the gateway, the tables from DynamoDB (moto checks no signature),
or pay Checkout sessions at the fakes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.sansio.utils import host_is_trusted
from werkzeug.wrappers import Response

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The names a browser on this machine reaches a local server by.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def host_name(host_header: str | None) -> str | None:
    """The name of a ``Host`` header (lower-cased, an IPv6 address without brackets), or None when the
    header is missing or malformed (werkzeug's own check of its characters and port, then the URL
    parser's reading of the name)."""
    if not host_header or not host_is_trusted(host_header):
        return None
    try:
        parts = urlsplit(f"//{host_header}")
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    return parts.hostname


def served_names(hosts: Iterable[str]) -> frozenset[str]:
    """The loopback names and ``hosts`` (a configured --host; an IPv6 one without its brackets)."""
    return frozenset(name.strip("[]").lower() for name in (*LOOPBACK_HOSTS, *hosts) if name)


def refusal(environ: dict[str, Any], names: frozenset[str]) -> Response | None:
    """The 421 for a request whose Host is not one of ``names``, or None."""
    if host_name(environ.get("HTTP_HOST")) in names:
        return None
    return Response(json.dumps({"error": "This server does not serve that host"}), status=421, mimetype="application/json")


class OnlyServedHosts:
    """WSGI middleware: ``app`` sees only requests for the loopback names and ``hosts``."""

    def __init__(self, app: WSGIApp, hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.names = served_names(hosts)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refused = refusal(environ, self.names)
        if refused is not None:
            return refused(environ, start_response)
        return self.app(environ, start_response)
