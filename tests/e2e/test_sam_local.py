"""The API as a SAM user runs it: ``sam local start-api`` over the built template, each function in
its own arm64 container, against the local DynamoDB, Stripe and PayPal on the host
(``python -m local sam-local``), driven over HTTP as a frontend would.

Needs Docker, ``make tools build`` and an invoke image (``make lambda-image`` builds the stand-in for
AWS's python3.13 image that this repository tests with offline); skipped, with the reason, when one
is missing, and failed instead when ``REQUIRE_SAM_LOCAL=1`` (CI sets it once Docker has started)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from local.jwt_keys import LocalAuthority
from local.sam_local import ENV_VARS_PATH, sam_command
from tests.e2e.conftest import ROOT, free_port
from tests.unit.test_qr import decode_qr

pytestmark = [pytest.mark.e2e, pytest.mark.sam_local]

IMAGE = os.environ.get("SAM_LOCAL_INVOKE_IMAGE", "payments-lambda-standin:python3.13-arm64")
# The first request builds SAM's image (the stand-in plus its emulator and our layer) and starts an
# arm64 container under emulation: minutes on a machine without arm64 cores.
FIRST_ANSWER_SECONDS = 600
ANSWER_SECONDS = 180


def missing_part() -> str | None:
    if shutil.which("docker") is None:
        return "Docker is not installed"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the Docker engine is not running"
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        return f"the invoke image {IMAGE} is not built (make lambda-image)"
    if not (ROOT / ".aws-sam" / "build" / "template.yaml").exists():
        return "the template is not built (make build)"
    if not (ROOT / ".tools" / "bin" / "sam").exists() and shutil.which("sam") is None:
        return "SAM CLI is not installed (make tools)"
    return None


def lambda_containers() -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=sam.cli.container.type=lambda"], capture_output=True, text=True, check=False
    )
    return listed.stdout.split()


@dataclass
class SamLocal:
    api: str
    authority: LocalAuthority
    output: Path

    def headers(self, user: str = "sam-user", staff: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.authority.issue(user, staff=staff)}"}

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture(scope="module")
def sam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocal]:
    missing = missing_part()
    if missing:
        if os.environ.get("REQUIRE_SAM_LOCAL") == "1":
            pytest.fail(f"REQUIRE_SAM_LOCAL=1 but {missing}")
        pytest.skip(missing)
    workdir = tmp_path_factory.mktemp("sam-local")
    key_file = workdir / "jwt.pem"
    authority = LocalAuthority.load_or_create(key_file)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STRIPE_", "PAYPAL_", "AWS_", "DYNAMODB_"))}
    env |= {"LOCAL_JWT_KEY_FILE": str(key_file), "PYTHONUNBUFFERED": "1", "SAM_CLI_TELEMETRY": "0"}
    command = [
        sys.executable,
        "-m",
        "local",
        "sam-local",
        "--port",
        str(port),
        "--stripe-port",
        str(free_port()),
        "--paypal-port",
        str(free_port()),
        "--dynamodb-port",
        str(free_port()),
        "--",
        "--invoke-image",
        IMAGE,
        "--skip-pull-image",
    ]
    output = workdir / "sam-local.log"
    before = set(lambda_containers())
    with output.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    ready = SamLocal(api=f"http://127.0.0.1:{port}", authority=authority, output=output)
    api = ready.api
    try:
        deadline = time.monotonic() + FIRST_ANSWER_SECONDS
        while True:
            assert process.poll() is None, f"sam local stopped:\n{output.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"sam local never answered:\n{output.read_text()[-4000:]}"
            try:
                listed = through_sam(
                    ready, lambda: requests.get(f"{api}/api/events/", headers=ready.headers(), timeout=FIRST_ANSWER_SECONDS)
                )
                assert listed.status_code == 200, listed.text
                break
            except requests.ConnectionError:
                time.sleep(1)
        yield ready
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        # Stopping the runner stops SAM too (a SAM left behind would serve on, and hold the port).
        left = subprocess.run(["pgrep", "-f", f"sam local start-api .*--port {port} "], capture_output=True, text=True, check=False)
        if left.stdout.split():
            subprocess.run(["kill", *left.stdout.split()], check=False)
            pytest.fail(f"sam local start-api outlived the runner: {left.stdout.split()}")
        # SAM's warm containers can outlive a killed SAM: remove those this run started.
        started = set(lambda_containers()) - before
        if started:
            subprocess.run(["docker", "rm", "-f", *started], capture_output=True, check=False)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


NO_RESPONSE = "No response from invoke container"


def through_sam(sam: SamLocal, send: Callable[[], requests.Response]) -> requests.Response:
    """One request to SAM's API, sent again once when SAM itself reports that a new container never
    answered: Docker's port proxy accepts SAM's connection before the emulator in the container
    listens, and under arm64 emulation that start can outlast SAM's three quick attempts (a 502).
    A function that fails answers the second request as it did the first."""
    seen = sam.log().count(NO_RESPONSE)
    answer = send()
    if answer.status_code == 502 and sam.log().count(NO_RESPONSE) > seen:
        answer = send()
    return answer


def post(sam: SamLocal, http: requests.Session, path: str, body: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return through_sam(sam, lambda: http.post(sam.api + path, json=body, headers=headers, timeout=ANSWER_SECONDS))


def create_event(sam: SamLocal, http: requests.Session, price: float, capacity: int = 5) -> int:
    created = post(
        sam,
        http,
        "/api/events/",
        {"name": f"sam {price}", "price": price, "currency": "usd", "capacity": capacity},
        sam.headers(staff=True),
    )
    assert created.status_code == 201, created.text
    return int(created.json()["event_id"])


def test_without_a_token_the_function_refuses_the_caller(sam, http):
    # SAM's local API does not run the JWT authorizer; the function itself refuses.
    refused = post(sam, http, "/api/payments/create-payment-intent/", {"event_id": 1, "quantity": 1}, {})
    # As API Gateway's JWT authorizer answers: its own body, the reason in the challenge header.
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
    assert refused.headers["www-authenticate"] == 'Bearer scope="" error="invalid_token" error_description="the token is missing"'
    forged = LocalAuthority.load_or_create(sam.output.parent / "someone-elses-key.pem").issue("mallory", staff=True)
    refused = post(
        sam, http, "/api/events/", {"name": "x", "price": 0, "currency": "usd", "capacity": 1}, {"Authorization": f"Bearer {forged}"}
    )
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
    assert (
        refused.headers["www-authenticate"] == 'Bearer scope="" error="invalid_token" error_description="the token could not be validated"'
    )


def test_a_free_ticket(sam, http):
    event_id = create_event(sam, http, price=0, capacity=3)
    bought = post(sam, http, "/api/payments/create-payment-intent/", {"event_id": event_id, "quantity": 2}, sam.headers())
    assert bought.status_code == 200, bought.text
    assert bought.json()["detail"] == "Successfully purchased tickets"
    assert decode_qr(bought.json()["qr_code_data"]) == bought.json()["ticket_code"]
    event = through_sam(sam, lambda: http.get(f"{sam.api}/api/events/{event_id}/", headers=sam.headers(), timeout=ANSWER_SECONDS)).json()
    assert event["available"] == 1


def test_a_paid_ticket_through_the_local_checkout_page_to_verify_and_its_qr(sam, http):
    event_id = create_event(sam, http, price=12.5)
    started = post(sam, http, "/api/payments/create-payment-intent/", {"event_id": event_id, "quantity": 2}, sam.headers())
    assert started.status_code == 200, started.text
    checkout_url = started.json()["checkout_url"]
    assert 'id="pay"' in http.get(checkout_url, timeout=30).text
    paid = http.post(checkout_url, data={"action": "pay"}, allow_redirects=False, timeout=30)
    assert paid.status_code == 303
    query = parse_qs(urlparse(paid.headers["Location"]).query)
    verified = post(
        sam, http, "/api/payments/verify/", {"session_id": query["session_id"][0], "ticket_id": query["ticket_id"][0]}, sam.headers()
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["detail"] == "Payment successful"
    assert decode_qr(verified.json()["qr_code_data"]) == started.json()["ticket_code"]
    # Stripe's signed webhook reached the function through SAM's API and was accepted.
    deadline = time.monotonic() + ANSWER_SECONDS
    while '"POST /api/v1/payments/webhooks/stripe/ HTTP/1.1" 200' not in sam.log():
        assert time.monotonic() < deadline, sam.log()[-4000:]
        time.sleep(1)


def test_a_stripe_payment_intent(sam, http):
    created = post(sam, http, "/api/v1/payments/stripe/create-payment-intent/", {"amount": 12.5, "currency": "eur"}, sam.headers())
    assert created.status_code == 200, created.text
    assert created.json()["client_secret"].startswith(created.json()["payment_intent_id"] + "_secret_")
    assert (created.json()["amount"], created.json()["currency"]) == (1250, "eur")  # minor units, as Stripe counts


def test_a_paypal_order(sam, http):
    created = post(
        sam,
        http,
        "/api/v1/payments/paypal/create-order/",
        {"amount": 29.99, "currency": "USD", "description": "Course"},
        sam.headers(),
    )
    assert created.status_code == 200, created.text
    assert "29.99 USD" in http.get(created.json()["approval_url"], timeout=30).text


def test_sam_local_invoke_with_a_sample_event(sam):
    # One function with one of events/, as `sam local invoke` users do; the claims come in the event.
    def invoke() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sam_command(),
                "local",
                "invoke",
                "StripeCreatePaymentIntentFunction",
                "--event",
                "events/stripe_create_payment_intent.json",
                "--env-vars",
                str(ENV_VARS_PATH),
                "--invoke-image",
                IMAGE,
                "--skip-pull-image",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=FIRST_ANSWER_SECONDS,
            check=False,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        )

    done = invoke()
    if done.returncode == 0 and NO_RESPONSE in done.stderr:  # the container's start outlasted SAM's attempts
        done = invoke()
    assert done.returncode == 0, done.stderr[-4000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["status"] == "requires_payment_method"
