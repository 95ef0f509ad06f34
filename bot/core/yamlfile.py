"""Read one YAML file, turning every failure into a DataError that names the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.errors import DataError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse a UTF-8 YAML file; raise DataError with the line of any syntax error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), f"cannot be read ({exc.strerror}).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(str(path), "is not valid UTF-8 text; save it as UTF-8.", line=line) from None
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - CSafeLoader is the safe loader, in C
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise DataError(str(path), f"is not valid YAML ({problem}); check the indentation.", line=line) from None
