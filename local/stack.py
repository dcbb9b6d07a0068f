"""The whole API on one machine: embedded DynamoDB, local Stripe, the local gateway serving the
template's functions, and the template's schedules, all in one foreground process."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local.dynamodb_server import make_dynamodb_server
from local.functions import LocalApp, load_app
from local.gateway import LambdaContext, LocalGateway
from local.jwt_keys import LocalAuthority
from local.paypal_fake import PayPalFake
from local.sam_local import authorizer_variable, env_vars, write_env_vars
from local.stripe_fake import StripeFake
from local.template import create_tables, load_template, resources_of_type
from local.webhook_delivery import default_disorder

LOCAL_STRIPE_KEY = "sk_test_local_stack"
LOCAL_WEBHOOK_SECRET = "whsec_local_stack"
# Schedules run more often here than the template says. The queue admitter's run steps the queues
# once a second for its minute while any queue is active, and returns at once while none is: run
# every minute, a queue created after a run had returned was first stepped up to a minute later (in
# AWS too, where staff enable a queue before its sale; a demo creates one and joins it at once).
# Started every second, a run that finds no queue costs one query, and one that finds a queue steps
# it within a second of its creation. Ahead of --sweep-interval, which is for the sweep.
LOCAL_SCHEDULE_SECONDS = {"AdmitEventQueuesFunction": 1}


class ApiRequestHandler(WSGIRequestHandler):
    """Requests refused before they reach the gateway (a malformed request line, a header line too
    long, too many headers) are answered as the API answers everything: JSON ``{"error"}``."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Bad Request"
        self.log_error("refused before the gateway: %d %s", code, message or phrase)
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # a garbled request line: still answer with a status line
        body = json.dumps({"error": phrase}).encode()
        self.send_response(code, phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    port: int = 3000
    stripe_port: int = 12111
    paypal_port: int = 12112
    dynamodb_port: int = 12113
    frontend_url: str = "http://localhost:5173"
    dynamodb_endpoint: str | None = None  # another DynamoDB instead of the embedded one
    sweep_interval_s: int | None = None  # None: the template's schedule
    demo_data: bool = True
    quiet: bool = False
    # The functions and the API run under `sam local start-api` at ``port``; this stack only serves
    # their dependencies and writes the env-vars file.
    sam_local: bool = False


@dataclass
class Stack:
    config: StackConfig
    authority: LocalAuthority
    app: LocalApp | None = None
    gateway: LocalGateway | None = None
    servers: list[BaseWSGIServer] = field(default_factory=list)
    stripe: StripeFake | None = None
    paypal: PayPalFake | None = None
    paypal_url: str | None = None
    demo_events: list[dict[str, Any]] = field(default_factory=list)
    api_url: str = ""
    stripe_url: str | None = None
    dynamodb_url: str = ""
    sam_env_file: Path | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def log(self, line: str) -> None:
        if not self.config.quiet:
            print(line, flush=True)

    # start -----------------------------------------------------------------------------------
    def start(self) -> None:
        config = self.config
        # The gateway prints one line per request; werkzeug's own access log would repeat it.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        template = load_template()
        if config.sam_local:
            self.api_url = f"http://127.0.0.1:{config.port}"
        else:
            api_server = make_server(config.host, config.port, self._dispatch, threaded=True, request_handler=ApiRequestHandler)
            self.api_url = f"http://{config.host}:{api_server.server_port}"

        if config.dynamodb_endpoint:
            self.dynamodb_url = config.dynamodb_endpoint
        else:
            dynamodb_server = self._serve(make_dynamodb_server(config.host, config.dynamodb_port))
            self.dynamodb_url = f"http://{config.host}:{dynamodb_server.server_port}"
        table_names = {name: f"local-{name}" for name in resources_of_type(template, "AWS::DynamoDB::Table")}
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
        client = boto3.client("dynamodb", endpoint_url=self.dynamodb_url)
        existing = set(client.list_tables()["TableNames"])
        create_tables(client, {k: v for k, v in table_names.items()}, template, skip=existing)

        environment = self._provider_environment()
        if not config.sam_local:
            # Under sam local the API is SAM's, which serves no local pages.
            for fake in (self.stripe, self.paypal):
                if fake is not None:
                    fake.explained_returns = f"{self.api_url}/_local/returned"
        self.app = load_app(template, {"FrontendUrl": config.frontend_url}, table_names)
        if self.stripe is not None:
            threading.Thread(target=self._expire_stripe_sessions, daemon=True).start()
        if config.sam_local:
            environment["SAM_LOCAL_AUTHORIZER"] = authorizer_variable(self.authority)
            self.sam_env_file = write_env_vars(env_vars(self.app, environment))
            return
        self._apply_environment(environment)
        self.gateway = LocalGateway(self.app, self.authority, log=self.log, hosts=[config.host])
        self._serve(api_server)
        self._start_schedules()
        if config.demo_data:
            self.demo_events = self._create_demo_events()

    def _serve(self, server: BaseWSGIServer) -> BaseWSGIServer:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return server

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.gateway is not None
        return self.gateway(environ, start_response)

    def _paypal_environment(self) -> dict[str, str]:
        if os.environ.get("PAYPAL_CLIENT_ID"):
            # Real PayPal sandbox credentials; the sandbox delivers webhooks to a public address only.
            self.paypal_url = None
            return {name: os.environ.get(name, "") for name in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID")} | {
                "PAYPAL_API_BASE": os.environ.get("PAYPAL_API_BASE", "https://api-m.sandbox.paypal.com")
            }
        self.paypal = PayPalFake(webhook_url=f"{self.api_url}/api/v1/payments/webhooks/paypal/")
        server = self._serve(make_server(self.config.host, self.config.paypal_port, self.paypal, threaded=True))
        self.paypal_url = f"http://{self.config.host}:{server.server_port}"
        self.paypal.public_url = self.paypal_url
        return {
            "PAYPAL_API_BASE": self.paypal_url,
            "PAYPAL_CLIENT_ID": self.paypal.client_id,
            "PAYPAL_CLIENT_SECRET": self.paypal.client_secret,
            "PAYPAL_WEBHOOK_ID": self.paypal.webhook_id,
            "PAYPAL_CERTIFICATE_ROOTS": self.paypal.certificate_roots_pem,
        }

    def _provider_environment(self) -> dict[str, str]:
        env = {
            "DYNAMODB_ENDPOINT": self.dynamodb_url,
            "POWERTOOLS_SERVICE_NAME": "payments-api-local",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            # Secrets come from the environment locally, not from SSM.
            "STRIPE_SECRET_KEY_PARAMETER": "",
            "STRIPE_WEBHOOK_SECRET_PARAMETER": "",
            "PAYPAL_CLIENT_ID_PARAMETER": "",
            "PAYPAL_CLIENT_SECRET_PARAMETER": "",
            "PAYPAL_WEBHOOK_ID_PARAMETER": "",
            "QUEUE_PASS_KEY_PARAMETER": "",
            # The on-sale queue's passes are signed with a key of this run's own.
            "QUEUE_PASS_KEY": os.urandom(32).hex(),
        }
        env.update(self._paypal_environment())
        if os.environ.get("STRIPE_SECRET_KEY"):
            # Real Stripe test mode; webhooks arrive through `stripe listen --forward-to`.
            self.stripe_url = None
            env["STRIPE_SECRET_KEY"] = os.environ["STRIPE_SECRET_KEY"]
            env["STRIPE_WEBHOOK_SECRET"] = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
            return env
        webhook_url = f"{self.api_url}/api/v1/payments/webhooks/stripe/"
        self.stripe = StripeFake(webhook_url=webhook_url, webhook_secret=LOCAL_WEBHOOK_SECRET)
        stripe_server = self._serve(make_server(self.config.host, self.config.stripe_port, self.stripe, threaded=True))
        self.stripe_url = f"http://{self.config.host}:{stripe_server.server_port}"
        self.stripe.public_url = self.stripe_url
        env.update(
            {"STRIPE_API_BASE": self.stripe_url, "STRIPE_SECRET_KEY": LOCAL_STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET}
        )
        return env

    def _apply_environment(self, overrides: dict[str, str]) -> None:
        """All functions share this process, so they share one environment: the template's
        variables (which agree across functions) plus the local overrides."""
        assert self.app is not None
        merged: dict[str, str] = {}
        for function in self.app.functions.values():
            for name, value in function.environment.items():
                if name in merged and merged[name] != value:
                    self.log(f"warning: {name} differs between functions; using {merged[name]!r}")
                merged.setdefault(name, value)
        merged.update(overrides)
        for name, value in merged.items():
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)

    def _start_schedules(self) -> None:
        assert self.app is not None and self.gateway is not None
        for schedule in self.app.schedules:
            interval = LOCAL_SCHEDULE_SECONDS.get(schedule.function) or self.config.sweep_interval_s or schedule.seconds
            function = self.app.functions[schedule.function]
            threading.Thread(target=self._run_every, args=(function.logical_id, interval), daemon=True).start()

    def _run_every(self, function_name: str, interval: int) -> None:
        assert self.app is not None and self.gateway is not None
        function = self.app.functions[function_name]
        event = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
        last = None
        while not self._stop.wait(interval):
            try:
                result = function.lambda_handler()(event, LambdaContext(function_name, function.memory_mb, function.timeout_s, "scheduled"))
                if result != last:  # a schedule run every second says the same most of the time: once
                    self.log(f"schedule {function_name}: {result}")
                last = result
            except Exception as error:
                self.log(f"schedule {function_name} failed: {error}")

    def _expire_stripe_sessions(self) -> None:
        while not self._stop.wait(5):
            assert self.stripe is not None
            for sid in self.stripe.expire_due_sessions():
                self.log(f"local Stripe expired {sid}")

    def _create_demo_events(self) -> list[dict[str, Any]]:
        import requests

        token = self.authority.issue("demo-staff", staff=True)
        created = []
        for body in (
            {"name": "Open Rehearsal (free)", "price": 0, "currency": "usd", "capacity": 100},
            {"name": "Summer Jazz Night", "price": 25.0, "currency": "usd", "capacity": 50},
            {"name": "Tokyo Synth Live", "price": 3500, "currency": "jpy", "capacity": 20},
        ):
            response = requests.post(f"{self.api_url}/api/events/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            response.raise_for_status()
            created.append(response.json())
        return created

    # stop ------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        for server in reversed(self.servers):
            server.shutdown()

    def wait(self) -> None:
        # Ctrl-C raises KeyboardInterrupt; a TERM (from a process manager or a test) stops as cleanly.
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.log("\nStopping the local stack.")
            self.stop()

    def banner(self) -> str:
        user = self.authority.issue("demo-user")
        staff = self.authority.issue("demo-staff", staff=True)
        stripe = (
            f"{self.stripe_url} (local fake; Checkout pages at checkout_url)"
            if self.stripe_url
            else "real Stripe test mode (STRIPE_SECRET_KEY)"
        )
        paypal = f"{self.paypal_url} (local fake; approval pages at approval_url)" if self.paypal_url else "PayPal sandbox"
        lines = [
            "",
            "Local payments API is running. Ctrl-C stops it.",
            f"  API            {self.api_url}{' (sam local start-api)' if self.config.sam_local else ''}",
            *([] if self.config.sam_local else [f"  In a browser   {self.api_url}/ (the API reference, the demo, tokens)"]),
            f"  Stripe         {stripe}",
            f"  PayPal         {paypal}",
            f"  Webhooks       {default_disorder().describe()}",
            f"  DynamoDB       {self.dynamodb_url}{'' if self.config.dynamodb_endpoint else ' (embedded, in memory)'}",
            f"  Frontend URL   {self.config.frontend_url} (CORS origin, Checkout return address)",
            *([f"  --env-vars     {self.sam_env_file}"] if self.sam_env_file else []),
            "",
            # make, from the repository: `python -m local` needs the virtual environment's Python.
            "Tokens (valid 12 hours; `make token USER_ID=alice [STAFF=1]` prints more):",
            f"  export USER_TOKEN={user}",
            f"  export STAFF_TOKEN={staff}",
            "",
        ]
        if self.demo_events:
            lines.append("Demo events:")
            for event in self.demo_events:
                price = "free" if event["is_free"] else f"{event['price']} {event['currency'].upper()}"
                lines.append(f"  event_id={event['event_id']:<3} {event['name']:<24} {price:<12} {event['available']} seats")
            lines.append("")
        free = next((event["event_id"] for event in self.demo_events if event["is_free"]), 1)
        lines += [
            "Try:",
            f"  curl -s -X POST {self.api_url}/api/payments/create-payment-intent/ \\",
            '    -H "Authorization: Bearer $USER_TOKEN" -H "Content-Type: application/json" \\',
            f'    -d \'{{"event_id": {free}, "quantity": 1}}\'',
            "",
        ]
        return "\n".join(lines)
