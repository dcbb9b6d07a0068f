"""``sam local`` against the local dependencies.

SAM runs each function in a container and hands it only the environment variables its template
declares, filled from an ``--env-vars`` file. This module writes that file from the template (every
function, so a new one cannot be forgotten; a value for a variable the template does not declare is
an error here rather than silently dropped by SAM), and ``python -m local sam-local`` starts the
dependencies on the host (embedded DynamoDB with the template's tables, the local Stripe and PayPal
delivering webhooks to SAM's local API) and then ``sam local start-api``.

The containers reach the host at the Docker bridge's gateway address, so the dependencies listen
there (the host reaches it too: Checkout and approval pages open in the host's browser)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from local.functions import LocalApp
from local.jwt_keys import LocalAuthority
from local.template import ROOT

ENV_VARS_PATH = ROOT / ".aws-sam" / "sam-local-env.json"


class UndeclaredVariable(ValueError):
    """SAM would drop this variable: the template does not declare it."""


def env_vars(app: LocalApp, overrides: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` document: for every function of the template, each variable it declares,
    with the local value where there is one."""
    document: dict[str, dict[str, str]] = {}
    for name, function in sorted(app.functions.items()):
        undeclared = sorted(set(overrides) - set(function.environment))
        if undeclared:
            raise UndeclaredVariable(f"{name} does not declare {', '.join(undeclared)} in template.yaml; SAM would not pass it")
        document[name] = {**function.environment, **overrides}
    return document


def authorizer_variable(authority: LocalAuthority) -> str:
    """``SAM_LOCAL_AUTHORIZER``: what the functions verify bearer tokens with under ``sam local``."""
    return json.dumps({"issuer": authority.issuer, "audience": authority.audience, "public_key": authority.public_key_pem()})


def write_env_vars(document: dict[str, dict[str, str]], path: Path = ENV_VARS_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Secrets of the local fakes only, but still nobody else's to read.
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def docker_bridge_gateway() -> str:
    """The host's address on Docker's default bridge, where SAM's containers reach it: the network's
    gateway, which Docker gives the bridge (older engines list only the subnet: its first address)."""
    answer = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"], capture_output=True, text=True, check=False
    )
    if answer.returncode != 0:
        raise SystemExit(f"Docker's bridge network not found (is Docker running?): {answer.stderr.strip()}")
    for config in json.loads(answer.stdout):
        if config.get("Gateway"):
            return str(config["Gateway"])
        if config.get("Subnet") and ":" not in config["Subnet"]:
            return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    raise SystemExit(f"Docker's bridge network has no IPv4 address: {answer.stdout.strip()}")


def sam_command() -> str:
    tools = ROOT / ".tools" / "bin" / "sam"
    return str(tools) if tools.exists() else (shutil.which("sam") or "sam")


def start_api(env_file: Path, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    command = [sam_command(), "local", "start-api", "--env-vars", str(env_file), "--port", str(port), "--warm-containers", "LAZY", *extra]
    print("$ " + " ".join(command), flush=True)
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
