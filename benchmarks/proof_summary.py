"""The proof's figures as one table: what `make proof` ran, and whether it held.

python -m benchmarks.proof_summary [test-artifacts/proof.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "proof.json"


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
    held = (
        figures.get("oversells", 0) == 0
        and figures.get("5xx", 0) == 0
        and figures.get("faults_injected") == figures.get("faults_survived")
        and figures.get("model_faults_injected") == figures.get("model_faults_survived")
        and figures.get("model_violations", 0) == 0
        and figures.get("model_sequences", 0) > 0
    )
    print("\nHeld: nothing oversold, no 5xx, every fault survived." if held else "\nNOT HELD: see the figures above.")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
