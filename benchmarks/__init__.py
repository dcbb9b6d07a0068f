"""Benchmarks: scripts that print figures (cold start, round trips, warm CPU, local throughput, the flash sale)."""

import sys
from pathlib import Path

# The shared layer's package, importable as in Lambda (/opt/python) and as pytest's pythonpath sets it.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "shared")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)


def settings_for(tables: dict[str, str], stripe_url: str, **extra: str) -> dict[str, str]:
    """The functions' environment in a benchmark: the template's tables under ``tables``' names, and
    the local Stripe (whose webhook secret the test flows sign with)."""
    return {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "TICKETS_TABLE": tables["TicketsTable"],
        "PAYMENTS_TABLE": tables["PaymentsTable"],
        "IDEMPOTENCY_TABLE": tables["IdempotencyTable"],
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": "whsec_test_local_only",
        **extra,
    }
