"""The built wheel: it carries its templates, static files and migrations, and the command."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json
import approval_bot, approval_bot.paths as paths
from approval_bot.store import load_migrations
print(json.dumps({
    "package": approval_bot.__file__,
    "version": approval_bot.__version__,
    "templates": str(paths.TEMPLATES_DIR),
    "static": str(paths.STATIC_DIR),
    "migrations": len(load_migrations()),
}))
"""


def pip(*args: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
    out = tmp_path_factory.mktemp("wheelhouse")
    pip(
        "wheel", str(PROJECT_ROOT), "--no-deps", "--no-build-isolation", "--no-index",
        "-w", str(out), cwd=out,
    )  # fmt: skip
    (built,) = out.glob("approval_bot-*.whl")
    return built


def test_wheel_carries_migrations_resources_and_the_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_points_name).decode()

    assert "approval_bot/migrations/0001_initial.sql" in names
    assert "approval_bot/migrations/__init__.py" in names
    assert "approval_bot/templates/base.html" in names
    assert "approval_bot/templates/error.html" in names
    assert "approval_bot/static/app.css" in names
    assert not any(name.startswith("tests/") for name in names)
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert parser["console_scripts"]["approval-bot"] == "approval_bot.cli:main"


def test_installed_wheel_finds_its_files_from_the_code(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel), cwd=tmp_path)
    # a working directory with decoys a lookup relative to it would find instead
    elsewhere = tmp_path / "elsewhere"
    for decoy in ("templates", "static", "approval_bot/templates", "approval_bot/static"):
        (elsewhere / decoy).mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(site)}

    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )

    found = json.loads(done.stdout)
    package = Path(found["package"]).resolve()
    templates = Path(found["templates"]).resolve()
    static = Path(found["static"]).resolve()
    assert package.is_relative_to(site.resolve())
    assert templates == site.resolve() / "approval_bot" / "templates"
    assert static == site.resolve() / "approval_bot" / "static"
    assert (templates / "base.html").is_file()
    assert (static / "app.css").is_file()
    assert not templates.is_relative_to(PROJECT_ROOT)
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert found["version"] == pyproject["project"]["version"]  # its metadata came along
    assert found["migrations"] >= 1
