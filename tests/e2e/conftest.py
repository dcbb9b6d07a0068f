"""The local stack started as a real process on free ports, driven over HTTP as a frontend would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from local.jwt_keys import LocalAuthority

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningStack:
    api: str
    stripe: str
    paypal: str
    authority: LocalAuthority
    output: Path

    def token(self, user: str = "e2e-user", staff: bool = False) -> str:
        return self.authority.issue(user, staff=staff)

    def headers(self, user: str = "e2e-user", staff: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, staff)}"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    yield from start_stack(tmp_path_factory, frontend=None)


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose frontend is its own demo page, so that Checkout and PayPal return to it."""
    yield from start_stack(tmp_path_factory, frontend="demo")


def start_stack(tmp_path_factory: pytest.TempPathFactory, frontend: str | None) -> Iterator[RunningStack]:
    workdir = tmp_path_factory.mktemp("local-stack")
    key_file = workdir / "jwt.pem"
    authority = LocalAuthority.load_or_create(key_file)
    api_port, stripe_port, paypal_port, dynamodb_port = free_port(), free_port(), free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "PAYPAL_", "TICKETS_", "PAYMENTS_", "IDEMPOTENCY_", "AWS_", "DYNAMODB_", "POWERTOOLS_"))
    }
    env.update({"LOCAL_JWT_KEY_FILE": str(key_file), "PYTHONUNBUFFERED": "1"})
    output = workdir / "stack.log"
    command = [
        sys.executable,
        "-m",
        "local",
        "run",
        "--port",
        str(api_port),
        "--stripe-port",
        str(stripe_port),
        "--paypal-port",
        str(paypal_port),
        "--dynamodb-port",
        str(dynamodb_port),
        *(["--frontend-url", f"http://127.0.0.1:{api_port}/demo"] if frontend == "demo" else []),
    ]
    with output.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops it" not in output.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"local stack did not start:\n{output.read_text()}")
            time.sleep(0.1)
        yield RunningStack(
            api=api, stripe=f"http://127.0.0.1:{stripe_port}", paypal=f"http://127.0.0.1:{paypal_port}", authority=authority, output=output
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
