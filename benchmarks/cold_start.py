"""Cold start of every function through its first request, against its own floor, measured on
what the build ships, with only what Lambda's runtime has on the path.

For each function of template.yaml, a fresh interpreter like Lambda's (the base Python 3.13 with
``-S``: no site-packages; on the path only the function, the built layer and the runtime's own
boto3/botocore) imports the handler and answers its sample event from ``events/`` against the
embedded DynamoDB (another process) and the local Stripe and PayPal: what a caller waits for.
Every first request is a real one (2xx): before each run, the objects its sample event names
(an event, a ticket, a payment intent, a PayPal order ...) are created afresh through the functions
themselves (``benchmarks.cold_start_seeds``), and a run that answers anything else fails the
benchmark. Timed inside the interpreter, from before ``import app`` to the answer; N rounds, each
running every target once (interleaved so that machine drift hits all alike). Two waits that are
deliberate, not cold start, are kept out: the Checkout Session pacer's sleep until its slot starts
(``payments.domain.pacing``; timed as slept and printed as the ``paced`` column, the ratio and our
share taken on the rest), and the queue admitter's minute of steps (its row runs one step).

The floor is the same interpreter doing the least any function does: botocore's DynamoDB client
created and one GetItem answered, plus, where the function talks to a provider, its SDK loaded and (when the function's first request
calls the provider; the local fakes count) one call answered through ``stripe`` (a payment intent
list) or ``requests`` (PayPal's token), and pydantic (the design card's validator): its import and
a first model validated. pydantic's own share is reported as a line of its own, the floor with it
less the floor without it, both measured in the same round. Each function's ratio is taken round by
round (its time over its floor's in that round) and reported as the median of those ratios with
their interquartile range; likewise our own share (the function's time beyond its floor, over its
time). Targets, on the medians: every function within 1.3x of its floor, and our own code under 10%
of its cold start. Extra rows: a Stripe function reading its secret from SSM Parameter Store (as
deployed; botocore's SSM client and its GetParameters call, measured in the same round as a line
of their own, are botocore's and left out of our own share), and one answering a request with an
Idempotency-Key. Peak memory (VmHWM) is the interpreter's after its first request.

Also: which heavy modules each function loads (``PROBE``, also used by
tests/unit/test_function_imports.py), and the size of what the function and layer ship.

    python -m benchmarks.cold_start [--runs 7] [--build-dir .bench/build]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cold_start_seeds import Seeds
from benchmarks.servers import dynamodb_process
from local.paypal_fake import PayPalFake
from local.stripe_fake import StripeFake
from local.template import ROOT, create_tables, load_template, resources_of_type
from tests.support.servers import serve

TABLE_NAMES = {"TicketsTable": "bench-tickets", "PaymentsTable": "bench-payments", "IdempotencyTable": "bench-idempotency"}
SSM_SECRET = "/bench/stripe/secret-key"

# Modules whose presence says what a function pays for at cold start.
WATCHED = (
    "stripe",
    "requests",
    "segno",
    "boto3",
    "jwt",
    "pydantic",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
)

# Loaded by the first request that needs them, never at cold start.
LAZY = ("segno", "boto3", "jwt", "aws_lambda_powertools.utilities.idempotency", "aws_lambda_powertools.utilities.parameters")

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
# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a child started by a big
# parent reports the parent's peak (every function showed this script's 93.7 MB).
rss_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
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

# What a function's first request waits for, timed inside the fresh interpreter. EVENT_PATH and the
# context come first: the runtime has the event before it calls the handler.
FIRST_REQUEST = r"""
import json, sys, time, uuid
event = json.load(open(EVENT_PATH))
headers = event.get("headers") or {}
if "idempotency-key" in headers:
    # A key of its own per run: a first request creates, it does not replay an earlier run's answer.
    headers["idempotency-key"] = str(uuid.uuid4())
class Context:
    function_name = FUNCTION
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + FUNCTION
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return 29_000
# The Checkout Session pacer's deliberate wait for its slot (payments.domain.pacing sleeps through
# time.sleep, looked up at each call): timed as slept, so that the row can count it apart. Only the
# pacer's sleeps: any other (a retry's back-off) is the function's own cost.
paced = [0.0]
real_sleep = time.sleep
def recording_sleep(seconds):
    if sys._getframe(1).f_globals.get("__name__") != "payments.domain.pacing":
        return real_sleep(seconds)
    began = time.perf_counter()
    real_sleep(seconds)
    paced[0] += time.perf_counter() - began
time.sleep = recording_sleep
start = time.perf_counter()
import app
imported = time.perf_counter() - start
response = app.lambda_handler(event, Context())
elapsed = time.perf_counter() - start
status = response.get("statusCode") if isinstance(response, dict) and "statusCode" in response else "ok"
rss_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"first_request_s": elapsed, "import_s": imported, "paced_s": paced[0], "status": status, "rss_mb": rss_mb}))
"""

# The least any function does: botocore's DynamoDB client and one read answered; the provider's SDK
# and client where the function talks to one.
FLOOR_DYNAMODB = r"""
import json, os, time
start = time.perf_counter()
import botocore.session
session = botocore.session.get_session()
client = session.create_client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"])
client.get_item(TableName=os.environ["TICKETS_TABLE"], Key={"pk": {"S": "FLOOR"}, "sk": {"S": "FLOOR"}})
"""
FLOOR_END = r"""
print(json.dumps({"first_request_s": time.perf_counter() - start, "status": "ok"}))
"""
FLOOR_STRIPE = r"""
import stripe
stripe_client = stripe.StripeClient(
    os.environ["STRIPE_SECRET_KEY"], base_addresses={"api": os.environ["STRIPE_API_BASE"]}, http_client=stripe.new_default_http_client()
)
stripe_client.v1.payment_intents.list(params={"limit": 1})
"""
FLOOR_PAYPAL = r"""
import requests
requests.Session().post(
    os.environ["PAYPAL_API_BASE"] + "/v1/oauth2/token",
    auth=(os.environ["PAYPAL_CLIENT_ID"], os.environ["PAYPAL_CLIENT_SECRET"]),
    data={"grant_type": "client_credentials"},
    timeout=10,
)
"""
# pydantic, part of every floor: its import, a model defined and a first validation.
PYDANTIC = "import pydantic\nclass Model(pydantic.BaseModel):\n    quantity: int\nModel.model_validate({'quantity': 1})\n"
# Where a function talks to a provider, its floor also makes that provider's SDK (or HTTP library)
# answer one call: what its first call costs is the SDK's, not ours.
FLOORS_WITHOUT_A_CALL = {
    "stripe": FLOOR_DYNAMODB
    + PYDANTIC
    + "import stripe\nstripe.StripeClient('sk_test_floor', http_client=stripe.new_default_http_client())\n"
    + FLOOR_END,
    "paypal": FLOOR_DYNAMODB + PYDANTIC + "import requests\nrequests.Session()\n" + FLOOR_END,
}
FLOORS = {
    "stripe": FLOOR_DYNAMODB + PYDANTIC + FLOOR_STRIPE + FLOOR_END,
    "paypal": FLOOR_DYNAMODB + PYDANTIC + FLOOR_PAYPAL + FLOOR_END,
    "none": FLOOR_DYNAMODB + PYDANTIC + FLOOR_END,
}
# The floor without pydantic: pydantic's share of a round is floor:none less this, in that round.
WITHOUT_PYDANTIC = FLOOR_DYNAMODB + FLOOR_END
# A secret from SSM as the functions fetch it: a second botocore client from the same session and one
# GetParameters call. botocore's, not ours: the SSM row's own share leaves it out.
WITH_SSM = (
    FLOOR_DYNAMODB + PYDANTIC + f"session.create_client('ssm').get_parameters(Names=[{SSM_SECRET!r}], WithDecryption=True)\n" + FLOOR_END
)

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
    # The on-sale queue's pass key (SSM's in AWS): the queue's functions sign and check passes with it.
    "QUEUE_PASS_KEY": "bench-queue-pass-key",
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


def base_python() -> str:
    """The interpreter the virtual environment was made from: Python 3.13 without our packages."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / version)


def run_runtime(code: str, pythonpath: list[Path], cwd: Path, environment: dict[str, str]) -> dict[str, Any]:
    """``code`` in a fresh interpreter as Lambda's runtime starts one: no site-packages (``-S``),
    only ``pythonpath`` importable; its JSON answer."""
    env = {"PATH": os.environ.get("PATH", ""), **environment, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    done = subprocess.run([base_python(), "-S", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed in {cwd}:\n{done.stderr}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def pinned(requirement: str) -> str:
    """``boto3==1.44.5`` as requirements-dev.txt pins it: the runtime's boto3 and botocore stand-in."""
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        if line.split("==")[0].split("[")[0].strip() == requirement:
            return line.split("#")[0].strip()
    raise LookupError(requirement)


def runtime_packages(build_dir: Path) -> Path:
    """What Lambda's python3.13 runtime itself provides on the path: boto3 and botocore."""
    target = build_dir / "runtime"
    wanted = pinned("boto3")
    stamp = target / ".installed"
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target), wanted], check=True
        )
        stamp.write_text(wanted)
    return target


@dataclass
class Target:
    """One thing timed in every round: its code, path, working directory and environment, and what
    to do before each run (untimed: write the run's own sample event)."""

    code: str
    pythonpath: list[Path]
    cwd: Path
    environment: dict[str, str]
    prepare: Callable[[], None] = lambda: None


@dataclass
class Measured:
    """A target's runs, round by round: times, answers, peak memory, and whether it called a provider."""

    seconds: list[float] = field(default_factory=list)
    # Of each run's seconds, those the Checkout Session pacer slept on purpose (0 where it did not run).
    paced: list[float] = field(default_factory=list)
    # Of each run's seconds, those of ``import app`` (the handler's module and what it imports).
    imported: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    called: bool = False


def interleaved_rounds(
    targets: dict[str, Target], runs: int, new_round: Callable[[], None], provider_exchanges: Callable[[], int]
) -> dict[str, Measured]:
    """Each round runs every target once, so that drift in the machine's speed hits all alike; the
    per-round figures are kept, so that ratios can be taken within a round. Whether a target called
    Stripe or PayPal comes from their local fakes' count of exchanges."""
    measured = {name: Measured() for name in targets}
    for _ in range(runs):
        new_round()
        for name, target in targets.items():
            target.prepare()
            before = provider_exchanges()
            answer = run_runtime(target.code, target.pythonpath, target.cwd, target.environment)
            result = measured[name]
            result.seconds.append(float(answer["first_request_s"]))
            result.paced.append(float(answer.get("paced_s", 0.0)))
            result.imported.append(float(answer.get("import_s", 0.0)))
            result.statuses.append(str(answer["status"]))
            if "rss_mb" in answer:
                result.rss_mb.append(float(answer["rss_mb"]))
            result.called = result.called or provider_exchanges() > before
    return measured


def spread(values: list[float]) -> tuple[float, float, float, float, float]:
    """Median, interquartile range (25th and 75th percentiles) and extremes of ``values``."""
    ordered = sorted(values)
    if len(ordered) < 2:
        return ordered[0], ordered[0], ordered[0], ordered[0], ordered[0]
    low, _, high = statistics.quantiles(ordered, n=4, method="inclusive")
    return statistics.median(ordered), low, high, ordered[0], ordered[-1]


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
    requirements = (ROOT / "layers" / "shared" / "requirements.txt").read_text()
    stamp = layer_dir / "requirements.txt"
    if not package.exists() or not stamp.exists() or stamp.read_text() != requirements:
        shutil.rmtree(layer_dir, ignore_errors=True)
        subprocess.run(
            ["make", "-s", "build-SharedLayer", f"ARTIFACTS_DIR={layer_dir}", "PLATFORM=host", f"PYTHON={sys.executable}"],
            cwd=ROOT / "layers" / "shared",
            check=True,
        )
        stamp.write_text(requirements)
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


@contextmanager
def services(build_dir: Path) -> Iterator[tuple[dict[str, str], StripeFake, PayPalFake]]:
    """The embedded DynamoDB (with SSM Parameter Store) in its own process, the local Stripe and PayPal
    in threads of this one; the functions' environment to reach them."""
    stripe_fake, paypal_fake = StripeFake(), PayPalFake()
    with dynamodb_process() as endpoint, serve(stripe_fake) as stripe_url, serve(paypal_fake) as paypal_url:
        stripe_fake.public_url, paypal_fake.public_url = stripe_url, paypal_url
        environment = {
            **template_environment(),
            **ENVIRONMENT,
            "DYNAMODB_ENDPOINT": endpoint,
            "AWS_ENDPOINT_URL_SSM": endpoint,
            "STRIPE_API_BASE": stripe_url,
            "PAYPAL_API_BASE": paypal_url,
            "PAYPAL_CLIENT_ID": paypal_fake.client_id,
            "PAYPAL_CLIENT_SECRET": paypal_fake.client_secret,
            "PAYPAL_WEBHOOK_ID": paypal_fake.webhook_id,
            # The local PayPal signs its webhooks with a certificate of its own root: a real check.
            "PAYPAL_CERTIFICATE_ROOTS": paypal_fake.certificate_roots_pem,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        boto3 = importlib.import_module("boto3")
        session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="eu-west-1")
        create_tables(session.client("dynamodb", endpoint_url=endpoint), TABLE_NAMES)
        ssm = session.client("ssm", endpoint_url=endpoint)
        ssm.put_parameter(Name=SSM_SECRET, Value=str(ENVIRONMENT["STRIPE_SECRET_KEY"]), Type="SecureString")
        yield environment, stripe_fake, paypal_fake


# A function's own settings for its row. The admitter steps its queues once a second for a minute
# while one is open: its first request is timed through its first step (QUEUE_ADMITTER_SECONDS 0: one
# step, then it returns); the rest of its minute is the schedule's, not cold start.
ROW_ENVIRONMENT = {"AdmitEventQueuesFunction": {"QUEUE_ADMITTER_SECONDS": "0"}}

SSM_ROWS = ("StripeCreatePaymentIntentFunction (secret in SSM)",)


def row_variants(environment: dict[str, str]) -> dict[str, tuple[str, str, dict[str, str]]]:
    """Extra rows: (function, how its first request differs, its environment)."""
    from_ssm = {name: value for name, value in environment.items() if name != "STRIPE_SECRET_KEY"}
    from_ssm["STRIPE_SECRET_KEY_PARAMETER"] = SSM_SECRET
    return {
        SSM_ROWS[0]: ("StripeCreatePaymentIntentFunction", "", from_ssm),
        "StripeCreatePaymentIntentFunction (Idempotency-Key)": ("StripeCreatePaymentIntentFunction", "idempotency-key", environment),
    }


def sample_event(resource: dict[str, Any], header: str) -> dict[str, Any]:
    """The function's sample event, with an Idempotency-Key header only where asked (the probe gives
    each run a key of its own)."""
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{Path(resource['Properties']['CodeUri']).name}.json").read_text())
    headers = event.setdefault("headers", {})
    headers.pop("idempotency-key", None)
    if header:
        headers[header] = "per run"
    return event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".bench" / "build")
    parser.add_argument("--shipped-dir", type=Path, default=ROOT / ".aws-sam" / "build", help="the arm64 `sam build` output, for sizes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--max-ratio", type=float, default=1.3)
    parser.add_argument("--max-ours", type=float, default=0.10, help="our own code's largest share of a cold start")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local providers' request lines
    build_for_this_machine(args.build_dir)
    layer = args.build_dir / "SharedLayer" / "python"
    runtime = runtime_packages(args.build_dir)
    resources = resources_of_type(load_template(), "AWS::Serverless::Function")
    functions = sorted(resources)
    with services(args.build_dir) as (environment, stripe_fake, paypal_fake):
        seeds = Seeds(environment, stripe_fake, paypal_fake)
        targets: dict[str, Target] = {}
        targets |= {f"floor:{kind}": Target(code, [layer, runtime], ROOT, environment) for kind, code in FLOORS.items()}
        targets |= {
            f"floor:{kind}:no call": Target(code, [layer, runtime], ROOT, environment) for kind, code in FLOORS_WITHOUT_A_CALL.items()
        }
        targets["floor:none without pydantic"] = Target(WITHOUT_PYDANTIC, [layer, runtime], ROOT, environment)
        targets["floor:none+ssm"] = Target(WITH_SSM, [layer, runtime], ROOT, environment)
        rows_of = {name: (name, "", environment | ROW_ENVIRONMENT.get(name, {})) for name in functions} | row_variants(environment)
        for row, (name, header, env) in rows_of.items():
            code_dir = args.build_dir / name
            event_path = args.build_dir / f"{name}{'-' + header if header else ''}.json"
            sample = sample_event(resources[name], header)
            function_dir = Path(resources[name]["Properties"]["CodeUri"]).name

            def prepare(path: Path = event_path, event: dict[str, Any] = sample, function: str = function_dir) -> None:
                path.write_text(json.dumps(seeds.prepare(function, event)))

            code = f"EVENT_PATH = {str(event_path)!r}\nFUNCTION = {name!r}\n{FIRST_REQUEST}"
            targets[row] = Target(code, [code_dir, layer, runtime], code_dir, env, prepare)
        first_metric = statistics.median(
            json.loads(run_python(METRICS_PROBE, [layer], ROOT)[1])["first_metric_s"] for _ in range(max(args.runs, 5))
        )
        loaded = {
            name: run_runtime(
                f"WATCHED = {WATCHED!r}\n{PROBE}", [args.build_dir / name, layer, runtime], args.build_dir / name, environment
            )
            for name in functions
        }
        measured = interleaved_rounds(targets, args.runs, seeds.new_round, lambda: len(stripe_fake.exchanges) + len(paypal_fake.exchanges))

    def seconds(target: str) -> list[float]:
        return measured[target].seconds

    floors = {kind: seconds(f"floor:{kind}") for kind in FLOORS}
    floors_without_a_call = {kind: seconds(f"floor:{kind}:no call") for kind in FLOORS_WITHOUT_A_CALL}
    # Round by round: pydantic's and SSM's shares are differences within a round, not of medians.
    pydantic_cost = [with_it - without for with_it, without in zip(floors["none"], seconds("floor:none without pydantic"), strict=True)]
    ssm_cost = [with_it - without for with_it, without in zip(seconds("floor:none+ssm"), floors["none"], strict=True)]

    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for row, (name, _, _) in rows_of.items():
        result = measured[row]
        provider = provider_of(resources[name])
        # A first request that never reached its provider is held to the floor that only loads the
        # provider's SDK; one that called it, to the floor that calls it too.
        floor = floors[provider] if result.called or provider == "none" else floors_without_a_call[provider]
        # Our own share leaves out what botocore spends on the SSM secret, where the row reads one.
        extra = ssm_cost if row in SSM_ROWS else [0.0] * len(floor)
        # The pacer's wait for a Checkout Session slot is Stripe's rate kept on purpose, not cold
        # start: counted apart (its own column), the ratio and our share taken on the rest.
        unpaced = [elapsed - paced for elapsed, paced in zip(result.seconds, result.paced, strict=True)]
        ratios = [elapsed / base for elapsed, base in zip(unpaced, floor, strict=True)]
        ours = [max(0.0, elapsed - base - botocore) / elapsed for elapsed, base, botocore in zip(unpaced, floor, extra, strict=True)]
        ratio, ratio_low, ratio_high, ratio_min, ratio_max = spread(ratios)
        own, own_low, own_high, own_min, own_max = spread(ours)
        modules = loaded[name]["modules"]
        shipped = args.shipped_dir / name
        refused = sorted({status for status in result.statuses if not (status == "ok" or status.startswith("2"))})
        rows.append(
            {
                "function": row,
                "first_request_ms": round(statistics.median(result.seconds) * 1000, 1),
                "paced_ms": round(statistics.median(result.paced) * 1000, 1),
                "import_ms": round(statistics.median(result.imported) * 1000, 1),
                "statuses": sorted(set(result.statuses)),
                "floor": provider + ("+call" if result.called and provider != "none" else ""),
                "floor_ms": round(statistics.median(floor) * 1000, 1),
                "ratio": round(ratio, 3),
                "ratio_iqr": [round(ratio_low, 3), round(ratio_high, 3)],
                "ratio_range": [round(ratio_min, 3), round(ratio_max, 3)],
                "ours": round(own, 3),
                "ours_iqr": [round(own_low, 3), round(own_high, 3)],
                "ours_range": [round(own_min, 3), round(own_max, 3)],
                "rss_mb": round(max(result.rss_mb), 1),
                "modules": modules,
                "code_bytes": directory_size(shipped if shipped.exists() else args.build_dir / name),
            }
        )
        if refused:
            failures.append(f"{row}: a first request answered {', '.join(refused)}, not a real (2xx) answer")
        if ratio > args.max_ratio:
            failures.append(f"{row}: {ratio:.2f}x its floor (median of the rounds' ratios)")
        if own > args.max_ours:
            failures.append(f"{row}: our own code {own:.0%} of its cold start (median of the rounds)")
        if row == name:
            if "stripe" in modules and provider != "stripe":
                failures.append(f"{name} imports stripe but does not talk to Stripe")
            if "requests" in modules and provider == "none":
                failures.append(f"{name} imports requests but talks to no provider")
            failures += [f"{name} imports {module} at cold start" for module in modules if module in LAZY]

    shipped_layer = args.shipped_dir / "SharedLayer"
    layer_bytes = directory_size(shipped_layer if shipped_layer.exists() else layer.parent)
    print(
        f"Cold start through the first request, {args.runs} rounds of fresh runtime-like interpreters "
        f"(Python {sys.version.split()[0]} -S, {os.uname().machine}; runtime packages only: {pinned('boto3')}); "
        "medians, [interquartile range] of the rounds; import: of the first request's ms, those of `import app`; paced: of them, "
        "the Checkout Session pacer's deliberate wait for its slot, left out of the ratio and of our share"
    )

    def line(label: str, values: list[float]) -> None:
        middle, low, high, _, _ = spread(values)
        print(f"  {label:<62} {middle * 1000:7.1f} ms  [{low * 1000:.1f}-{high * 1000:.1f}]")

    for kind, values in floors.items():
        line(f"floor: DynamoDB client + one read + pydantic{' + one ' + kind + ' call' if kind != 'none' else ''}", values)
    line("pydantic: import, a model, a first validation (same round)", pydantic_cost)
    line("SSM: botocore's SSM client and one GetParameters (same round)", ssm_cost)
    print(f"  {'business metrics, a container first metric':<62} {first_metric * 1000:7.2f} ms")
    print()
    print(
        f"{'function (first request)':<52} {'ms':>7} {'import':>6} {'paced':>5} {'status':>6} {'floor':>11} {'ms':>5} {'ratio [IQR]':>18} {'ours [IQR]':>16} "
        f"{'peak MiB':>8} {'code':>7}  heavy modules at start"
    )
    for item in rows:
        ratio_text = f"{item['ratio']:.2f}x [{item['ratio_iqr'][0]:.2f}-{item['ratio_iqr'][1]:.2f}]"
        ours_text = f"{item['ours']:.0%} [{item['ours_iqr'][0]:.0%}-{item['ours_iqr'][1]:.0%}]"
        print(
            f"{item['function']:<52} {item['first_request_ms']:>7.1f} {item['import_ms']:>6.0f} {item['paced_ms']:>5.0f} {','.join(item['statuses']):>6} {item['floor']:>11} {item['floor_ms']:>5.0f} "
            f"{ratio_text:>18} {ours_text:>16} {item['rss_mb']:>8.1f} {item['code_bytes'] / 1024:>6.1f}K  {', '.join(item['modules'])}"
        )
    print(
        f"\nLayer ships {layer_bytes / 1024 / 1024:.1f} MiB unzipped ({'arm64 sam build' if shipped_layer.exists() else 'this machine build'})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "floors_ms": {kind: [value * 1000 for value in values] for kind, values in floors.items()},
                    "pydantic_ms": [value * 1000 for value in pydantic_cost],
                    "ssm_ms": [value * 1000 for value in ssm_cost],
                    "functions": rows,
                },
                indent=2,
            )
        )
    if failures:
        print("\nTargets missed:\n  " + "\n  ".join(failures))
        return 1
    print(f"\nAll functions within {args.max_ratio}x of their floor with pydantic, our own code under {args.max_ours:.0%} of each.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
