"""The suite cannot go red by itself (issue 26): nothing a test uses is made when the tests are
collected if it reads the clock, and no test is held to a wall-clock limit it does not own.

A value made at import (a module constant, a ``pytest.mark.parametrize`` argument, a decorator's or
a default argument's value) starts ageing when the suite is collected: a token made there with a
10-minute expiry failed a run that reached its test after 11 minutes. Tests make such things when
they run (a factory in the parameters, a fixture) or freeze the clock they are checked against.
The collection hook in tests/conftest.py catches a parametrized JWT; this catches the clock read
itself, wherever the tests evaluate it at import."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parents[1]

# Calls that read the wall clock, by their last two names (``time.time``, ``datetime.now``) ...
CLOCK_READS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}
# ... and the helpers of this project that stamp what they make with it (a token's iat and exp, a
# Stripe signature's t=, a PayPal delivery's transmission time).
STAMPING = {"sign_payload", "issue", "signed_headers", "sign"}


def _name(func: ast.expr) -> tuple[str, ...]:
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return tuple(reversed(parts))


def _calls_now(node: ast.AST) -> Iterator[ast.Call]:
    """The calls evaluated when ``node`` is: not those inside a lambda or a function defined in it."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(current, ast.Call):
            yield current
        pending.extend(ast.iter_child_nodes(current))


def _at_import(statements: list[ast.stmt]) -> Iterator[ast.AST]:
    """What Python evaluates when the module is imported: statements, class bodies, decorators
    (``parametrize`` arguments among them) and default argument values, but no function body."""
    for statement in statements:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from statement.decorator_list
            yield from statement.args.defaults
            yield from (default for default in statement.args.kw_defaults if default is not None)
        elif isinstance(statement, ast.ClassDef):
            yield from statement.decorator_list
            yield from _at_import(statement.body)
        else:
            yield statement


def _reads_the_clock(call: ast.Call, local: set[str]) -> bool:
    name = _name(call.func)
    return name[-2:] in CLOCK_READS or (bool(name) and (name[-1] in STAMPING or name[-1] in local))


def clock_reads_at_import(source: str) -> list[int]:
    """Lines where ``source`` reads the clock at import, directly or through one of its own
    functions that does (``forged(exp=...)`` whose body stamps ``iat`` from ``time.time()``)."""
    tree = ast.parse(source)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    local: set[str] = set()
    changed = True
    while changed:  # a function that calls one that reads the clock reads it too
        changed = False
        for name, function in functions.items():
            if name not in local and any(_reads_the_clock(call, local) for call in ast.walk(function) if isinstance(call, ast.Call)):
                local.add(name)
                changed = True
    return sorted({call.lineno for node in _at_import(tree.body) for call in _calls_now(node) if _reads_the_clock(call, local)})


def test_no_test_module_reads_the_clock_when_it_is_collected():
    found = {
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in TESTS.rglob("*.py")
        for line in clock_reads_at_import(path.read_text(encoding="utf-8"))
    }
    assert not found, "made at collection, ageing while the suite runs; make it when the test runs: " + ", ".join(sorted(found))


def test_the_check_finds_what_failed_a_run_and_lets_factories_through():
    # The shape that failed: tokens made in parametrize's arguments, one through a local helper.
    failed = """
import time
import pytest

def forged(**claims):
    now = int(time.time())
    return encode({"iat": now, "exp": now + 600, **claims})

STALE = sign_payload(b"{}", "whsec")

@pytest.mark.parametrize("token", [AUTHORITY.issue("alice"), forged(aud="x"), None])
def test_tokens(token, at=datetime.now(UTC)):
    pass
"""
    assert clock_reads_at_import(failed) == [9, 11, 12]
    # The fix: factories called when the test runs, and clock reads inside test bodies.
    fixed = """
import time
import pytest

def forged(**claims):
    now = int(time.time())
    return encode({"iat": now, "exp": now + 600, **claims})

@pytest.mark.parametrize("make", [lambda: AUTHORITY.issue("alice"), lambda: forged(aud="x")])
def test_tokens(make):
    assert make() and time.time()
"""
    assert clock_reads_at_import(fixed) == []


def test_hypothesis_holds_no_example_to_a_wall_clock_deadline():
    """Hypothesis fails an example slower than 200 ms by default: on a shared machine, one the
    scheduler paused would turn a test red by itself. tests/conftest.py turns the deadline off for the suite;
    where speed is the point, a test measures the work's own CPU time."""
    assert settings.default.deadline is None
