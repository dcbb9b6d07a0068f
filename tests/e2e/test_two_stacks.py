"""Two local stacks at once with one flag: the second on --port-base; the same ports twice is one line
naming the flag, not the web server's stock "address in use"."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.ports import free_base

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def launch(workdir: Path, name: str, *flags: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STRIPE_", "PAYPAL_", "LOCAL_"))}
    env.update({"LOCAL_JWT_KEY_FILE": str(workdir / "jwt.pem"), "PYTHONUNBUFFERED": "1"})
    output = workdir / f"{name}.log"
    with output.open("w") as log:
        command = [sys.executable, "-m", "local", "run", "--no-demo-data", *flags]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, output


def wait_started(process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 90
    while "Ctrl-C stops it" not in output.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the stack did not start:\n{output.read_text()}")
        time.sleep(0.1)


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=15)


def test_a_second_stack_runs_beside_the_first_with_one_flag(tmp_path, running):
    first_base = free_base("127.0.0.1", start=random.randrange(20000, 40000, 10), step=10)
    first, first_log = launch(tmp_path, "first", "--port-base", str(first_base))
    running.append(first)
    wait_started(first, first_log)

    # The same ports again: one line naming the port and the flags, before anything starts.
    clash = subprocess.run(
        [sys.executable, "-m", "local", "run", "--no-demo-data", "--port-base", str(first_base)],
        check=False,
        cwd=ROOT,
        env={**os.environ, "LOCAL_JWT_KEY_FILE": str(tmp_path / "jwt.pem")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert clash.returncode == 1
    assert f"Port {first_base} (the API) is in use" in clash.stderr and "--port-base" in clash.stderr
    assert "Starting the local stack" not in clash.stdout and "Traceback" not in clash.stderr

    second_base = free_base("127.0.0.1", start=first_base + 10, step=10)
    second, second_log = launch(tmp_path, "second", "--port-base", str(second_base))
    running.append(second)
    wait_started(second, second_log)
    for base in (first_base, second_base):
        health = requests.get(f"http://127.0.0.1:{base}/_local/health", timeout=10)
        assert health.status_code == 200 and health.json()["ok"] is True
    assert f"http://127.0.0.1:{second_base + 1}" in second_log.read_text()  # its own local Stripe
