"""Cold initialisation of every function, against its own floor, measured on what the build ships.

For each function of template.yaml: a fresh interpreter imports the handler module from the built
layer and function directories and creates the clients its first request needs (median of N runs).
Two references are measured in the same run: a bare interpreter, and the function's floor (boto3
with one DynamoDB client, plus `stripe` or `requests` where the function talks to a provider).
Also: which heavy modules each function loads, and the size of what the function and layer ship.

    python -m benchmarks.cold_start [--runs 7] [--build-dir .bench/build]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local.template import ROOT, load_template, resources_of_type

# Modules whose presence says what a function pays for at cold start.
WATCHED = (
    "stripe",
    "requests",
    "segno",
    "boto3",
    "pydantic",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
)

# Loaded by the first request that needs them, never at cold start.
LAZY = ("segno", "boto3", "aws_lambda_powertools.utilities.idempotency", "aws_lambda_powertools.utilities.parameters")

PROBE = r"""
import json, sys, time
start = time.perf_counter()
import app, re
from payments import dynamodb, wiring
dynamodb.get_client()
# What the first request builds: the services the handler asks the wiring for, and their clients.
for name in sorted(set(re.findall(r"wiring\.(\w+)\(", open(app.__file__).read()))):
    getattr(wiring, name)()
if "stripe" in sys.modules:
    wiring.stripe_gateway()
if "payments.providers.paypal_client" in sys.modules:
    wiring.paypal_client()
elapsed = time.perf_counter() - start
import resource
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"init_s": elapsed, "rss_mb": rss_mb, "modules": sorted(m for m in WATCHED if m in sys.modules)}))
"""

# The business metrics' cost to a container: Powertools' package __init__ imports its metrics module in
# every function anyway; what a container adds is its first metric (Metrics(), add, flush).
METRICS_PROBE = r"""
import contextlib, io, json, time
import payments.observability
from payments import metrics
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    metrics.count("TicketsSold")
    metrics.flush()
print(json.dumps({"first_metric_s": time.perf_counter() - start}))
"""

FLOORS = {
    "stripe": "import boto3, stripe; boto3.client('dynamodb'); stripe.StripeClient('sk', http_client=stripe.new_default_http_client())",
    "paypal": "import boto3, requests; boto3.client('dynamodb'); requests.Session()",
    "none": "import boto3; boto3.client('dynamodb')",
}

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "TICKETS_TABLE": "bench-tickets",
    "PAYMENTS_TABLE": "bench-payments",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "STRIPE_SECRET_KEY": "sk_test_bench",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "PAYPAL_CLIENT_ID": "bench",
    "PAYPAL_CLIENT_SECRET": "bench",
    "PAYPAL_WEBHOOK_ID": "BENCH",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


def template_environment() -> dict[str, str]:
    """The plain (non-intrinsic) variables every function gets from the template's Globals."""
    variables = load_template().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {name: str(value) for name, value in variables.items() if not isinstance(value, dict)}


def run_python(code: str, pythonpath: list[Path], cwd: Path) -> tuple[float, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        **template_environment(),
        **ENVIRONMENT,
        "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath),
    }
    # -I would drop PYTHONPATH; -s and -E-like isolation come from the clean environment instead.
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-s", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed in {cwd}:\n{done.stderr}")
    return time.perf_counter() - started, done.stdout


def interleaved_medians(targets: dict[str, tuple[str, list[Path], Path]], runs: int) -> dict[str, tuple[float, str]]:
    """Each round runs every target once, so that drift in the machine's speed hits all alike."""
    timings: dict[str, list[float]] = {name: [] for name in targets}
    outputs: dict[str, str] = {}
    for _ in range(runs):
        for name, (code, pythonpath, cwd) in targets.items():
            elapsed, outputs[name] = run_python(code, pythonpath, cwd)
            timings[name].append(elapsed)
    return {name: (statistics.median(values), outputs[name]) for name, values in timings.items()}


def provider_of(resource: dict[str, Any]) -> str:
    """The provider a function talks to: the one whose secrets its IAM policies let it read."""
    parameters = [
        str(policy["SSMParameterReadPolicy"]["ParameterName"].get("Ref", ""))
        for policy in resource["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "SSMParameterReadPolicy" in policy
    ]
    for provider, prefix in (("stripe", "Stripe"), ("paypal", "PayPal")):
        if any(name.startswith(prefix) for name in parameters):
            return provider
    return "none"


def directory_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def build_for_this_machine(build_dir: Path) -> None:
    """The layer as the template builds it, but with wheels for this machine so it can be imported;
    the functions as `sam build` copies them, compiled like `make build` does."""
    layer_dir = build_dir / "SharedLayer"
    package = layer_dir / "python" / "payments"
    if not package.exists():
        subprocess.run(
            ["make", "-s", "build-SharedLayer", f"ARTIFACTS_DIR={layer_dir}", "PLATFORM=host", f"PYTHON={sys.executable}"],
            cwd=ROOT / "layers" / "shared",
            check=True,
        )
    else:
        # The dependencies are kept from the last build; our package is always the current one.
        shutil.rmtree(package)
        shutil.copytree(ROOT / "layers" / "shared" / "payments", package, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(package)], check=True)
    for name, resource in resources_of_type(load_template(), "AWS::Serverless::Function").items():
        target = build_dir / name
        target.mkdir(parents=True, exist_ok=True)
        source = ROOT / resource["Properties"]["CodeUri"] / "app.py"
        (target / "app.py").write_bytes(source.read_bytes())
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(target)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".bench" / "build")
    parser.add_argument("--shipped-dir", type=Path, default=ROOT / ".aws-sam" / "build", help="the arm64 `sam build` output, for sizes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--max-ratio", type=float, default=1.2)
    args = parser.parse_args()

    build_for_this_machine(args.build_dir)
    layer = args.build_dir / "SharedLayer" / "python"
    probe = f"WATCHED = {WATCHED!r}\n{PROBE}"
    resources = resources_of_type(load_template(), "AWS::Serverless::Function")
    functions = sorted(resources)
    targets: dict[str, tuple[str, list[Path], Path]] = {"bare": ("pass", [], ROOT)}
    targets |= {f"floor:{kind}": (code, [layer], ROOT) for kind, code in FLOORS.items()}
    targets |= {name: (probe, [args.build_dir / name, layer], args.build_dir / name) for name in functions}
    first_metric = statistics.median(
        json.loads(run_python(METRICS_PROBE, [layer], ROOT)[1])["first_metric_s"] for _ in range(max(args.runs, 5))
    )
    measured = interleaved_medians(targets, args.runs)
    bare = measured["bare"][0]
    floors = {kind: measured[f"floor:{kind}"][0] for kind in FLOORS}

    rows, failures = [], []
    for name in functions:
        elapsed, output = measured[name]
        probe_result = json.loads(output)
        modules = probe_result["modules"]
        provider = provider_of(resources[name])
        ratio = elapsed / floors[provider]
        shipped = args.shipped_dir / name
        rows.append(
            {
                "function": name,
                "init_ms": round(elapsed * 1000, 1),
                "floor": provider,
                "floor_ms": round(floors[provider] * 1000, 1),
                "ratio": round(ratio, 2),
                "rss_mb": round(probe_result["rss_mb"], 1),
                "modules": modules,
                "code_bytes": directory_size(shipped if shipped.exists() else args.build_dir / name),
            }
        )
        if ratio > args.max_ratio:
            failures.append(f"{name}: {ratio:.2f}x its floor")
        if "stripe" in modules and provider != "stripe":
            failures.append(f"{name} imports stripe but does not talk to Stripe")
        if "requests" in modules and provider == "none":
            failures.append(f"{name} imports requests but talks to no provider")
        failures += [f"{name} imports {module} at cold start" for module in modules if module in LAZY]

    shipped_layer = args.shipped_dir / "SharedLayer"
    layer_bytes = directory_size(shipped_layer if shipped_layer.exists() else layer.parent)
    print(f"Cold initialisation, median of {args.runs} fresh interpreters (Python {sys.version.split()[0]}, {os.uname().machine})")
    print(f"  bare interpreter                     {bare * 1000:7.1f} ms")
    for kind, value in floors.items():
        print(f"  floor: boto3 + DynamoDB client{' + ' + kind if kind != 'none' else '':<9} {value * 1000:7.1f} ms")
    print(f"  business metrics, a container's first metric {first_metric * 1000:5.2f} ms")
    print()
    print(f"{'function':<36} {'init ms':>8} {'floor':>7} {'ratio':>6} {'RSS MB':>7} {'code':>7}  heavy modules loaded")
    for row in rows:
        print(
            f"{row['function']:<36} {row['init_ms']:>8.1f} {row['floor']:>7} {row['ratio']:>5.2f}x {row['rss_mb']:>7.1f} "
            f"{row['code_bytes'] / 1024:>6.1f}K  {', '.join(row['modules'])}"
        )
    print(
        f"\nLayer ships {layer_bytes / 1024 / 1024:.1f} MiB unzipped ({'arm64 sam build' if shipped_layer.exists() else 'this machine build'})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "bare_ms": bare * 1000,
                    "floors_ms": {k: v * 1000 for k, v in floors.items()},
                    "functions": rows,
                    "layer_bytes": layer_bytes,
                },
                indent=2,
            )
        )
    if failures:
        print("\nTargets missed:\n  " + "\n  ".join(failures))
        return 1
    print(
        f"\nAll functions within {args.max_ratio}x of their floor; no function loads a provider SDK it does not use, nor at cold start {', '.join(LAZY)}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
