"""The Makefile explains itself: a bare `make` lists every command with one line each, and `make setup`
without Python 3.13 says how to point it at one."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on PATH")


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *arguments], check=False, capture_output=True, text=True, timeout=60
    )


def targets() -> list[str]:
    """Every rule the Makefile defines (variables, `.PHONY` and pattern rules aside)."""
    text = (ROOT / "Makefile").read_text()
    return re.findall(r"^([a-zA-Z][a-zA-Z0-9_-]*):(?!=)", text, flags=re.MULTILINE)


def test_a_bare_make_lists_every_target_with_a_line_of_its_own():
    listed = make()
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == make("help").stdout  # help is the default goal, setup is not
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert targets(), "no targets read from the Makefile"
    for target in targets():
        assert target in lines, f"make help does not list {target}"
        assert len(lines[target].split(None, 1)) == 2, f"{target} has no description"


def test_make_setup_without_python_3_13_names_the_variable_that_points_at_one():
    refused = make("setup", "PYTHON=no-such-python3.13")
    assert refused.returncode != 0
    assert "make setup PYTHON=/path/to/python3.13" in refused.stderr
    assert "command not found" not in refused.stderr
