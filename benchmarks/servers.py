"""The local services a benchmark runs against: the embedded DynamoDB in a process of its own (so
that its objects and its CPU are never counted as the measured code's), on a free loopback port."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from local.dynamodb_server import make_dynamodb_server


def _serve_dynamodb(port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    make_dynamodb_server("127.0.0.1", port).serve_forever()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dynamodb_process() -> Iterator[str]:
    """moto's server (DynamoDB, and SSM Parameter Store for a benchmark that needs it); its endpoint."""
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve_dynamodb, args=(port,), daemon=True)
    server.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.join(timeout=5)
