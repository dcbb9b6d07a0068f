"""Where our own share of a cold start goes: the modules each function loads beyond its floor, and
what their import costs (``python -X importtime``'s self time, the median of ``--runs`` fresh
interpreters).

The interpreter, the path and the build are ``benchmarks.cold_start``'s (Lambda's runtime: the base
Python with ``-S``, the function, the built layer, the runtime's boto3). The floor loads what the
cold-start floor does, without its network call: botocore's DynamoDB client, pydantic with a model
validated, and the provider's SDK where the function talks to one (``stripe`` and its client;
``requests`` and a session for PayPal). The function does what ``cold_start.PROBE`` does: imports its handler and builds the
services its handler asks the wiring for, with their clients, again without a request. What it
loads beyond the floor is its own cost at cold start, before any round trip: our layer's modules
(each one's own line, ``payments.*``) and the libraries only we load (Powertools, ...), grouped by
package. Each module is counted for its own body (``self``), so that a module is charged once,
however deep it is imported. ``-X importtime`` times wall clock, which a loaded machine inflates;
each function's line also gives CPU time (process time, what other processes do not add): the
floor's imports with botocore's client, and the function's imports and services beyond them, with
our share of the two.

    python -m benchmarks.cold_start_imports [--runs 7] [FunctionName ...]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.cold_start import ENVIRONMENT, PROBE, WATCHED, base_python, build_for_this_machine, provider_of, runtime_packages
from local.template import ROOT, load_template, resources_of_type

FLOOR = """
import os
import botocore.session
session = botocore.session.get_session()
session.create_client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"])
import pydantic
class Model(pydantic.BaseModel):
    quantity: int
Model.model_validate({"quantity": 1})
"""
# As cold_start.FLOORS_WITHOUT_A_CALL: the SDK loaded and its client made.
SDK = {
    "stripe": "import stripe\nstripe.StripeClient('sk_test_floor', http_client=stripe.new_default_http_client())\n",
    "paypal": "import requests\nrequests.Session()\n",
    "none": "",
}
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")
# CPU time (process time: what a loaded machine's other processes do not add) of the floor's imports
# with botocore's client, then of the function's imports and services beyond them, in one interpreter.
CPU = r"""
import json, re, time
started = time.process_time()
import os
import botocore.session
import pydantic
class Model(pydantic.BaseModel):
    quantity: int
Model.model_validate({"quantity": 1})
SDK
floor_imports = time.process_time()
import app
from payments import dynamodb, wiring
imported = time.process_time()
dynamodb.get_client()
client = time.process_time()
for name in sorted(set(re.findall(r"wiring\.(\w+)\(", open(app.__file__).read()))):
    getattr(wiring, name)()
built = time.process_time()
print(json.dumps({"floor": floor_imports - started + client - imported, "ours": imported - floor_imports + built - client}))
"""


def run(arguments: list[str], code: str, pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        **ENVIRONMENT,
        # Nothing is called: the endpoints only have to be valid URLs.
        "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "PAYPAL_API_BASE": "http://127.0.0.1:9",
        "PYTHONPATH": os.pathsep.join(str(path) for path in pythonpath),
    }
    done = subprocess.run([base_python(), "-S", *arguments, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed in {cwd}:\n{done.stderr[-2000:]}")
    return done


def self_times(code: str, pythonpath: list[Path], cwd: Path, runs: int) -> dict[str, float]:
    """Each module's own import time (ms), the median of ``runs`` fresh runtime-like interpreters."""
    seen: dict[str, list[int]] = collections.defaultdict(list)
    for _ in range(runs):
        for line in run(["-X", "importtime"], code, pythonpath, cwd).stderr.splitlines():
            match = IMPORT_LINE.match(line)
            if match:
                seen[match[2]].append(int(match[1]))
    return {module: statistics.median(times) / 1000 for module, times in seen.items()}


def cpu_times(provider: str, pythonpath: list[Path], cwd: Path, runs: int) -> tuple[float, float]:
    """The floor's CPU (its imports and botocore's client) and ours beyond it (ms), medians of ``runs``."""
    answers = [json.loads(run([], CPU.replace("SDK\n", SDK[provider]), pythonpath, cwd).stdout) for _ in range(runs)]
    return statistics.median(a["floor"] for a in answers) * 1000, statistics.median(a["ours"] for a in answers) * 1000


def group(module: str) -> str:
    """Our layer's modules one by one; a library under its package's name."""
    if module == "app" or module.startswith("payments."):
        return module
    return module.partition(".")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("functions", nargs="*", help="template names (all functions when none)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--top", type=int, default=8, help="the largest lines shown per function")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".bench" / "build")
    args = parser.parse_args()

    build_for_this_machine(args.build_dir)
    layer, runtime = args.build_dir / "SharedLayer" / "python", runtime_packages(args.build_dir)
    resources = resources_of_type(load_template(), "AWS::Serverless::Function")
    floors = {kind: self_times(FLOOR + sdk, [layer, runtime], ROOT, args.runs) for kind, sdk in SDK.items()}
    print(
        f"Import cost beyond the floor (self time, median of {args.runs} runs, ms; "
        "floor: botocore's DynamoDB client, pydantic, the provider's SDK)"
    )
    for name in args.functions or sorted(resources):
        floor = floors[provider_of(resources[name])]
        code_dir = args.build_dir / name
        loaded = self_times(f"WATCHED = {WATCHED!r}\n{PROBE}", [code_dir, layer, runtime], code_dir, args.runs)
        beyond: dict[str, float] = collections.defaultdict(float)
        for module, milliseconds in loaded.items():
            if module not in floor:
                beyond[group(module)] += milliseconds
        ours = sum(value for key, value in beyond.items() if key == "app" or key.startswith("payments"))
        floor_cpu, ours_cpu = cpu_times(provider_of(resources[name]), [code_dir, layer, runtime], code_dir, args.runs)
        print(
            f"{name:<40} {sum(beyond.values()):6.1f} ms beyond the floor, {ours:5.1f} ms of it our layer's; "
            f"CPU: {ours_cpu:5.1f} ms beyond the floor's {floor_cpu:5.1f} ms ({ours_cpu / (floor_cpu + ours_cpu):.0%})"
        )
        largest = sorted(beyond.items(), key=lambda item: -item[1])[: args.top]
        print("    " + ", ".join(f"{key} {value:.1f}" for key, value in largest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
