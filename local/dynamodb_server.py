"""Embedded DynamoDB: moto's server, in memory, one request at a time.

moto has no locks: concurrent TransactWriteItems against it lose updates and oversell, where real
DynamoDB's per-item guarantees would not. Serialising every request restores those guarantees.
moto checks no signature: only requests for the address it listens on (or a loopback name) are
served, so that a page whose name was rebound to this address cannot read or write the tables."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local import moto_patches
from local.hosts import OnlyServedHosts


class SerialisedApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            # The whole body is produced under the lock, so the next request sees every effect.
            return list(self._app(environ, start_response))


def make_dynamodb_server(host: str, port: int) -> BaseWSGIServer:
    moto_patches.install()  # a transaction's cost stays flat however much is stored
    app = OnlyServedHosts(SerialisedApp(DomainDispatcherApplication(create_backend_app)), [host])
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
