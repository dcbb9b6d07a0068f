"""The money model's fast world: the real handlers, repositories and domain, with their two slow
neighbours called in process instead of over a socket.

- DynamoDB: moto's DynamoDB handler called directly (``MotoDirect``), without botocore's and moto's
  HTTP serialisation.
- Stripe and PayPal: the local fakes' WSGI applications called directly from ``requests`` (the
  Stripe SDK's default HTTP client and the PayPal client both use it) through a transport adapter
  mounted for the fakes' addresses; every other address goes out as usual.

The money model's HTTP slice runs the same rules over boto3 through moto and the fakes over
loopback: the two worlds cross-check each other."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

WsgiApp = Callable[..., Iterable[bytes]]


class WsgiAdapter(BaseAdapter):
    """A ``requests`` transport that hands the request to a WSGI application in this process."""

    def __init__(self, app: WsgiApp) -> None:
        super().__init__()
        self._app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = urlsplit(str(request.url))
        body = request.body.encode() if isinstance(request.body, str) else request.body
        environ = EnvironBuilder(
            method=str(request.method),
            path=url.path,
            query_string=url.query,
            headers=list(request.headers.items()),
            data=body or b"",
            base_url=f"{url.scheme}://{url.netloc}",
        ).get_environ()
        app_iter, status, headers = run_wsgi_app(self._app, environ)
        try:
            content = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(dict(headers))
        response._content = content
        response.encoding = "utf-8"
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@contextmanager
def providers_in_process(apps: dict[str, WsgiApp]) -> Iterator[None]:
    """Requests to each base address (``http://127.0.0.1:port``) go to its WSGI app in process."""
    adapters = {base.rstrip("/") + "/": WsgiAdapter(app) for base, app in apps.items()}
    stock = requests.Session.get_adapter

    def get_adapter(self: requests.Session, url: str) -> BaseAdapter:
        for prefix, adapter in adapters.items():
            if url.startswith(prefix):
                return adapter
        return stock(self, url)

    requests.Session.get_adapter = get_adapter  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.get_adapter = stock  # type: ignore[method-assign]
