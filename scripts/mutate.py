"""Mutation scores of the pure core and the workflow funnel, each module against its own tests.

Run through scripts/mutate. For each module of [tool.mutmut] only_mutate in pyproject.toml,
mutmut mutates that module alone and runs only its tests/test_<module>*.py, so one module's
tests never get credit for another's (quiet_hours' tests call sms_text, for one). The score
is mutmut's own: killed and timed-out mutants over all mutants not skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"


def modules() -> list[Path]:
    """The modules [tool.mutmut] only_mutate names, relative to the repository."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return [Path(path) for path in config["tool"]["mutmut"]["only_mutate"]]


def own_tests(module: Path) -> list[str]:
    """tests/test_<module>.py and its siblings such as tests/test_<module>_effects.py.

    A *_stateful.py machine is left out: it takes minutes, and mutmut runs a module's
    tests again for every mutant.
    """
    paths = ROOT.glob(f"tests/test_{module.stem}*.py")
    return sorted(str(p.relative_to(ROOT)) for p in paths if not p.stem.endswith("_stateful"))


def run_one(module: str, tests: list[str], max_children: int) -> None:
    """Inside a fresh process: mutmut run over `module` with `tests` only, then its stats."""
    # mutmut reads its configuration once into this object; narrowing it here keeps one
    # table (pyproject.toml) instead of a generated file per module
    from mutmut.__main__ import cli
    from mutmut.configuration import config

    settings = config()
    settings.only_mutate = [module]
    settings.pytest_add_cli_args_test_selection = tests
    cli(["run", "--max-children", str(max_children)], standalone_mode=False)
    cli(["export-cicd-stats"], standalone_mode=False)
    print(f"== surviving mutants of {module}", flush=True)
    cli(["results"], standalone_mode=False)


def score(stats: dict[str, int]) -> str:
    """One summary line, scored as mutmut's badge scores: (killed + timeout) / tested."""
    tested = stats["total"] - stats["skipped"]
    percent = 100 * (stats["killed"] + stats["timeout"]) / tested if tested else 0.0
    return (
        f"{percent:5.1f}%  killed {stats['killed']}, timeout {stats['timeout']}, "
        f"survived {stats['survived']}, no tests {stats['no_tests']}, total {stats['total']}"
    )


def main() -> int:
    known = {path.stem: path for path in modules()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="*", help=f"any of {', '.join(known)} (default: all)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (1)")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], args.one[1:], args.max_children)
        return 0
    unknown = sorted(set(args.module) - set(known))
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    lines, failed = [], False
    for stem in args.module or list(known):
        module, tests = known[stem], own_tests(known[stem])
        if not tests:
            print(f"{module} has no tests/test_{stem}*.py", file=sys.stderr)
            return 2
        # a fresh mutants/ per module: mutmut would otherwise keep results earned by
        # another module's tests
        shutil.rmtree(MUTANTS, ignore_errors=True)
        command = [sys.executable, __file__, "--max-children", str(args.max_children)]
        done = subprocess.run([*command, "--one", str(module), *tests], cwd=ROOT, check=False)
        stats_file = MUTANTS / "mutmut-cicd-stats.json"
        if done.returncode != 0 or not stats_file.exists():
            lines.append(f"{stem:13} mutmut failed (exit {done.returncode})")
            failed = True
            continue
        lines.append(f"{stem:13} {score(json.loads(stats_file.read_text('utf-8')))}")
    print("\n== mutation scores, each module against its own tests")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
