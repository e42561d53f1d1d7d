"""Where the templates and static files are, found from this package, never the working dir."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _resource_dir(name: str) -> Path:
    # An installed wheel carries the directory inside the package; a checkout (or an
    # editable install) has it at the top of the repository, beside the package.
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"approval-bot is installed without its {name}/ directory")


TEMPLATES_DIR = _resource_dir("templates")
STATIC_DIR = _resource_dir("static")
