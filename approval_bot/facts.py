"""Facts about a customer: merged, never overwritten whole (pure)."""

from __future__ import annotations

import json
import math
from typing import Any

MAX_PATCH_BYTES = 8_192  # a patch as JSON text
MAX_DEPTH = 4  # objects inside objects, the top one counted
MAX_KEY_CHARS = 64


def merge_facts(current: dict[str, object], patch: dict[str, object]) -> dict[str, object]:
    """`current` with `patch` merged in: scalars replace, objects merge, lists gain the new
    items once, None deletes a key. Neither input is changed."""
    merged: dict[str, object] = {key: _copy(value) for key, value in current.items()}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_facts(merged[key], value)  # type: ignore[arg-type]
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            items: list[object] = merged[key]  # type: ignore[assignment]
            for item in value:
                if item not in items:
                    items.append(_copy(item))
        elif isinstance(value, dict):
            merged[key] = merge_facts({}, value)  # a None inside a new object deletes nothing
        else:
            merged[key] = _copy(value)
    return merged


def _copy(value: object) -> object:
    """A deep copy of a JSON value, so the merge shares nothing with its inputs."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def parse_patch(text: str | bytes) -> dict[str, object]:
    """A facts patch from an API body: a JSON object of bounded size and depth.

    Raises ValueError with a message for the client.
    """
    if len(text) > MAX_PATCH_BYTES:
        raise ValueError(f"facts must be at most {MAX_PATCH_BYTES} bytes of JSON")
    try:
        patch: Any = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("facts must be a JSON object") from None
    return check_patch(patch)


def check_patch(patch: object) -> dict[str, object]:
    """`patch` when it is a JSON object of bounded depth with short keys; ValueError if not."""
    if not isinstance(patch, dict):
        raise ValueError("facts must be a JSON object")
    if len(json.dumps(patch)) > MAX_PATCH_BYTES:
        raise ValueError(f"facts must be at most {MAX_PATCH_BYTES} bytes of JSON")
    _check_value(patch, 1, "facts")
    return patch


def _check_value(value: object, depth: int, where: str) -> None:
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            raise ValueError(f"facts nest at most {MAX_DEPTH} objects deep ({where})")
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
                raise ValueError(f"each key of {where} must be 1 to {MAX_KEY_CHARS} characters")
            _check_value(item, depth + 1, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, list | dict):
                raise ValueError(f"{where}[{index}]: list items must be plain values")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise ValueError(f"{where} is not a JSON value")
