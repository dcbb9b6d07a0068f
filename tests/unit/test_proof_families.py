"""Every attack family the proof counts has its row, with the OWASP items it covers, in the table."""

import ast
from pathlib import Path

from benchmarks.proof_summary import ATTACK_FAMILIES

E2E = Path(__file__).resolve().parents[1] / "e2e"


def families_that_count_refusals() -> set[str]:
    found = set()
    for module in ("test_proof_attacks.py", "test_proof_fuzz.py"):
        tree = ast.parse((E2E / module).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                calls = {sub.func.id for sub in ast.walk(node) if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)}
                attributes = {sub.attr for sub in ast.walk(node) if isinstance(sub, ast.Attribute)}
                if "refused" in calls or "attack_family" in attributes:
                    found.add(node.name)
    return found


def test_every_attack_family_is_in_the_owasp_table():
    families = families_that_count_refusals()
    assert len(families) >= 10
    assert families <= set(ATTACK_FAMILIES), families - set(ATTACK_FAMILIES)
    for label, owasp in ATTACK_FAMILIES.values():
        assert label and all(item.strip().startswith("API") for item in owasp.split(","))
