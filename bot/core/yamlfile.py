"""Read one YAML file, turning every failure into a DataError that names the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from bot.core.schemas import validate
from bot.errors import DataError

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(_BASE):  # type: ignore[misc,valid-type]
    """The safe loader (C parser when available) that refuses a key written twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a second `answer:` would silently replace
    the first; this loader makes it an error naming the line of the second key.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """The mapping of `node`; ConstructorError at the second occurrence of a repeated key."""
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:            # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first.start_mark.line + 1})",
                        key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, schema: Any = None) -> Any:
    """Parse a UTF-8 YAML file; raise DataError with the line of any syntax error or repeated key.

    With a `schema` (bot.core.schemas), an empty file reads as {} and the data must fit the schema.
    """
    data = _parse(path)
    if schema is not None:
        data = {} if data is None else data
        validate(data, schema, str(path))
    return data


def _parse(path: Path) -> Any:
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
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a subclass of the safe loader
    except ConstructorError as exc:
        if exc.problem and exc.problem.startswith("duplicate key"):
            mark = exc.problem_mark
            raise DataError(str(path), f"has a {exc.problem}; delete one of them.",
                            line=mark.line + 1 if mark is not None else None) from None
        raise DataError(str(path), f"is not valid YAML ({exc.problem}).",
                        line=exc.problem_mark.line + 1 if exc.problem_mark else None) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise DataError(str(path), f"is not valid YAML ({problem}); check the indentation.", line=line) from None
