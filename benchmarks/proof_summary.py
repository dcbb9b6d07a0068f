"""The proof's figures as one table: what `make proof` ran, and whether it held.

python -m benchmarks.proof_summary [test-artifacts/proof.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "proof.json"

# Each attack family (a test in tests/e2e/test_proof_attacks.py or test_proof_fuzz.py) and the
# OWASP API Security Top 10 (2023) items it covers.
ATTACK_FAMILIES = {
    "test_user_b_with_user_as_ids_is_refused": ("another user's objects by id", "API1"),
    "test_staff_actions_by_a_customer_are_refused": ("staff routes by customers", "API5"),
    "test_another_users_ticket_and_an_events_sales_are_refused": ("another user's ticket, sales by customers", "API1, API5"),
    "test_staff_rights_only_from_exact_membership_in_the_configured_claim": ("near-miss staff claims", "API5, API2"),
    "test_forged_and_stale_stripe_webhooks_are_refused": ("forged, stale Stripe webhooks", "API2, API10"),
    "test_forged_paypal_webhooks_are_refused": ("forged PayPal webhooks, foreign certificate URL", "API2, API7, API10"),
    "test_a_non_ascii_stripe_signature_is_400": ("non-ASCII signature header", "API10, API8"),
    "test_a_malformed_paypal_webhook_body_is_400": ("malformed PayPal webhook bodies", "API10, API4"),
    "test_oversized_and_malformed_bodies_are_refused": ("oversized, malformed bodies", "API4"),
    "test_hostile_strings_in_string_fields_are_refused_cleanly": ("hostile strings in fields", "API3, API8"),
    "test_hostile_json_is_400_on_every_json_route": ("deep JSON, lone surrogates, every route", "API4, API8"),
    "test_the_local_runner_answers_odd_requests_with_a_json_4xx": ("odd request lines, header floods", "API4, API8"),
    "test_hostile_bodies_on_every_route_are_never_a_5xx": ("fuzzed hostile bodies, every route", "API3, API4, API8"),
    "test_hostile_headers_are_never_a_5xx": ("fuzzed hostile headers", "API8"),
}


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ARTIFACT
    figures = json.loads(path.read_text())
    faults = sorted(name.removeprefix("fault:") for name in figures if name.startswith("fault:"))
    rows = [
        ("requests sent", figures.get("requests", 0), ""),
        ("highest concurrency", figures.get("concurrency", 0), "clients at once"),
        ("oversells", figures.get("oversells", 0), "must be 0"),
        ("faults injected", figures.get("faults_injected", 0), f"{len(faults)} kinds"),
        ("faults survived", figures.get("faults_survived", 0), "must equal faults injected"),
        ("attacks tried", figures.get("attacks_tried", 0), ""),
        ("attacks refused", figures.get("attacks_refused", 0), "replays are acknowledged, not refused"),
        ("fuzz cases run", figures.get("fuzz_cases", 0), "schemathesis, every route"),
        ("5xx seen", figures.get("5xx", 0), "must be 0"),
        ("money model sequences", figures.get("model_sequences", 0), "hypothesis state machine, in process"),
        ("money model steps", figures.get("model_steps", 0), "invariants checked after each"),
        ("money model faults injected", figures.get("model_faults_injected", 0), "DynamoDB writes refused or answers lost"),
        ("money model faults survived", figures.get("model_faults_survived", 0), "must equal the line above"),
        ("money model violations", figures.get("model_violations", 0), "must be 0"),
    ]
    print("| measure | value | note |")
    print("|---|---:|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")
    print(f"\nFaults: {', '.join(faults)}")
    families = sorted({name.split(":")[1] for name in figures if name.startswith("attack:")})
    unrefused = 0
    if families:
        print("\n| attack family | OWASP API Top 10 | tried | refused |")
        print("|---|---|---:|---:|")
        for family in families:
            label, owasp = ATTACK_FAMILIES.get(family, (family, "?"))
            tried, refused = figures.get(f"attack:{family}:tried", 0), figures.get(f"attack:{family}:refused", 0)
            unrefused += tried - refused
            print(f"| {label} | {owasp} | {tried} | {refused} |")
    held = (
        figures.get("oversells", 0) == 0
        and figures.get("5xx", 0) == 0
        and figures.get("faults_injected") == figures.get("faults_survived")
        and figures.get("model_faults_injected") == figures.get("model_faults_survived")
        and figures.get("model_violations", 0) == 0
        and figures.get("model_sequences", 0) > 0
        and unrefused == 0
    )
    print("\nHeld: nothing oversold, no 5xx, every fault survived, every attack refused." if held else "\nNOT HELD: see the figures above.")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
