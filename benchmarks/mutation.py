"""Mutation testing's figures from mutmut's results, and the slice CI runs.

python -m benchmarks.mutation report [--only PATTERN ...] [--goal 0.9]
    The score, killed / (total - listed), and every surviving mutant with its file, function and diff.
    Only the mutants listed in docs/mutation.md (each with its reason) are subtracted; a listed mutant
    that is now killed, or no longer exists, is reported so that the list does not rot.
python -m benchmarks.mutation select [--base REF] [--sample N] [--seed S]
    The mutants CI runs, one name or pattern a line: those of the files in scope that the change
    touches (git diff against the merge base with REF), a seeded sample of N of them if more; a seeded
    sample of N over the whole scope when the change touches none.

Run from the repository's root after `mutmut run` (make mutation / make mutation-ci): mutmut reads its
configuration ([tool.mutmut] in pyproject.toml) and its results (mutants/) relative to it.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.configuration import config
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

ROOT = Path(__file__).resolve().parent.parent
LISTED = ROOT / "docs" / "mutation.md"
GOAL = 0.90
# Statuses in which a test (or the type checker, or the watchdog on a mutant that loops) noticed the
# change. "suspicious" (slower than expected, then passed) and "no tests" did not.
DETECTED = {"killed", "timeout", "caught by type check", "segfault"}
# An entry of docs/mutation.md's list: - `payments.domain.x.x_f__mutmut_3`: the reason.
ENTRY = re.compile(r"^- `(?P<name>[\w.ǁ]+__mutmut_\d+)`: (?P<reason>\S.*)$")
# mutmut mutates the layer through the src -> layers/shared link (see [tool.mutmut]).
LINK, LAYER = "src/", "layers/shared/"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    status: str

    @property
    def source(self) -> str:
        return LAYER + self.path.removeprefix(LINK) if self.path.startswith(LINK) else self.path

    @property
    def function(self) -> str:
        function, cls = orig_function_and_class_names_from_key(self.name)
        return f"{cls}.{function}" if cls else function


def results() -> list[Mutant]:
    mutants = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        mutants += [Mutant(name, str(path), status_by_exit_code[code]) for name, code in data.exit_code_by_key.items()]
    return mutants


def listed(text: str) -> dict[str, str]:
    """The mutants docs/mutation.md accepts as equivalent (or not worth a test), each with its reason."""
    return {m["name"]: m["reason"] for line in text.splitlines() if (m := ENTRY.match(line.strip()))}


def chosen(mutants: list[Mutant], patterns: list[str]) -> list[Mutant]:
    if not patterns:
        return mutants
    return [m for m in mutants if any(m.name == p or fnmatch.fnmatch(m.name, p) for p in patterns)]


def report(patterns: list[str], goal: float | None) -> int:
    every = results()
    mutants = chosen(every, patterns)
    if not mutants:
        print("No mutants: run `make mutation` (or `make mutation-ci`) first.", file=sys.stderr)
        return 2
    accepted = listed(LISTED.read_text()) if LISTED.exists() else {}
    counts = Counter(m.status for m in mutants)
    unchecked = [m for m in mutants if m.status == "not checked"]
    checked = [m for m in mutants if m.status != "not checked"]
    killed = sum(m.status in DETECTED for m in checked)
    equivalent = [m for m in checked if m.name in accepted and m.status not in DETECTED]
    survivors = [m for m in checked if m.status not in DETECTED and m.name not in accepted]
    names = {m.name for m in every}
    stale = sorted(n for n in accepted if n not in names or any(m.name == n and m.status in DETECTED for m in every))

    denominator = len(checked) - len(equivalent)
    score = killed / denominator if denominator else 1.0
    print(f"mutants: {len(mutants)} (" + ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) + ")")
    print(f"score: {killed} killed / ({len(checked)} checked - {len(equivalent)} listed in docs/mutation.md) = {score:.1%}")
    if unchecked:
        print(f"not checked yet: {len(unchecked)} (an interrupted or partial run); the score covers the checked ones")
    for m in survivors:
        print(f"\n{m.status.upper()}: {m.source} {m.function} ({m.name})")
        print(get_diff_for_mutant(m.name, path=m.path))
    for name in stale:
        print(f"\nSTALE in docs/mutation.md: {name} is killed now, or no longer exists (mutmut renumbers a changed function)")
    if goal is None:
        return 0
    if unchecked:
        print(f"\nFAILED: {len(unchecked)} mutants were not checked", file=sys.stderr)
        return 1
    if score < goal:
        print(f"\nFAILED: {score:.1%} of the non-equivalent mutants killed, under the goal of {goal:.0%}", file=sys.stderr)
        return 1
    print(f"\ngoal met: {score:.1%} >= {goal:.0%}")
    return 0


def module_of(path: str) -> str:
    """layers/shared/payments/domain/door.py -> payments.domain.door, mutmut's prefix for its mutants."""
    return path.removeprefix(LAYER).removesuffix(".py").replace("/", ".")


def changed_files(base: str) -> list[str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()

    try:
        since = git("merge-base", "HEAD", base)
    except subprocess.CalledProcessError:
        return []
    return git("diff", "--name-only", since, "HEAD").splitlines()


def in_scope(path: str) -> bool:
    linked = LINK + path.removeprefix(LAYER)
    return path.startswith(LAYER) and config().should_mutate(linked)


def generated_names() -> list[str]:
    """Every mutant's name, generating the mutants as `mutmut run` would (without running a test)."""
    from mutmut.__main__ import create_mutants
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir

    Path("mutants").mkdir(exist_ok=True)
    # mutmut says what it copies on stdout, where the names go.
    with contextlib.redirect_stdout(sys.stderr):
        copy_src_dir()
        copy_also_copy_files()
        create_mutants(1)
    return sorted(m.name for m in results())


def select(base: str, sample: int, seed: int, scope: list[str]) -> int:
    """``scope``: fnmatch patterns of the layer's files (layers/shared/...) the slice draws from
    (default: everything [tool.mutmut] mutates); CI's slice narrows it to the files its fast tests
    are meant to hold."""

    def wanted(path: str) -> bool:
        return in_scope(path) and (not scope or any(fnmatch.fnmatch(path, pattern) for pattern in scope))

    touched = sorted({module_of(p) for p in changed_files(base) if wanted(p)})
    names = generated_names()
    if not touched and scope:
        names = [n for n in names if any(fnmatch.fnmatch(LAYER + n.rsplit(".", 1)[0].replace(".", "/") + ".py", p) for p in scope)]
    pool = [n for n in names if any(n.startswith(module + ".") for module in touched)] if touched else names
    why = f"the {len(pool)} mutants of {', '.join(touched)}" if touched else f"no file in scope changed since {base}: the whole scope"
    # A reproducible sample (the seed), not a secret.
    picked = sorted(random.Random(seed).sample(pool, sample)) if len(pool) > sample else pool  # noqa: S311
    print(f"{why}; running {len(picked)} (seed {seed})", file=sys.stderr)
    print("\n".join(picked))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    shown = commands.add_parser("report")
    shown.add_argument("--only", nargs="*", default=[], help="mutant names or fnmatch patterns (default: all)")
    shown.add_argument("--only-from", type=Path, help="a file of names or patterns, one a line")
    shown.add_argument("--goal", type=float, help=f"fail under this share of non-equivalent mutants killed (CI: {GOAL})")
    picking = commands.add_parser("select")
    picking.add_argument("--base", default="HEAD~1", help="the change is HEAD against its merge base with this ref")
    picking.add_argument("--sample", type=int, default=60)
    picking.add_argument("--seed", type=int, default=24)
    picking.add_argument("--scope", nargs="*", default=[], help="fnmatch patterns of layers/shared/... files to draw from")
    args = parser.parse_args()
    if args.command == "select":
        return select(args.base, args.sample, args.seed, args.scope)
    patterns = list(args.only) + (args.only_from.read_text().split() if args.only_from else [])
    return report(patterns, args.goal)


if __name__ == "__main__":
    sys.exit(main())
