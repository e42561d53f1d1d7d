"""The README keeps its promises: the two commands first, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_two_commands_come_first():
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line]
    assert commands == ["scripts/run", "scripts/test"]


def test_ci_runs_exactly_the_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^scripts/test$", ci, re.MULTILINE)


def test_every_setting_the_code_reads_is_in_the_table():
    source = (ROOT / "approval_bot" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"([A-Z][A-Z0-9_]{3,})"', source))
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", README, re.MULTILINE))
    assert read, "found no settings in config.py"
    assert read <= documented, f"undocumented: {sorted(read - documented)}"
