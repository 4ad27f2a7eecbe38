"""Settings from ``pyproject.toml``'s ``[tool.dumpfix]``, so hooks and scripts need no flags.

The file is looked for from the current folder upward, stopping at the root
of the repository (a folder holding ``.git``) or of the file system, as black
and ruff do. Paths in it are relative to the file, not to wherever dumpfix
runs: a hook and a developer in a subfolder must read the same schema.
Command-line options override what the file says (the CLI uses the settings
as click's defaults).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dumpfix.errors import DumpfixError

FILE_NAME = "pyproject.toml"
#: Settings naming files or folders: resolved against the file's folder.
PATH_KEYS = frozenset({"schema"})


@dataclass(frozen=True)
class Config:
    path: Path
    #: Option names as the CLI spells its parameters (underscores) to values.
    values: dict[str, Any]


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.dumpfix] table, from start upward."""
    folder = start.resolve()
    while True:
        candidate = folder / FILE_NAME
        if _present(candidate, Path.is_file) and _has_table(candidate):
            return candidate
        if _present(folder / ".git", Path.exists) or folder.parent == folder:
            return None
        folder = folder.parent


def _present(path: Path, test: Callable[[Path], bool]) -> bool:
    """Whether path is there; a folder we may not look into holds no settings of ours."""
    try:
        return test(path)
    except PermissionError:
        return False


def load_config(path: Path, known: Collection[str]) -> Config:
    """The [tool.dumpfix] table of path, keys checked against the known option names.

    Keys may be written with dashes (as on the command line) or underscores.
    A key dumpfix does not know is an error: a misspelt ``shema`` silently
    ignored would make a hook check against no schema at all.
    """
    table = _read(path).get("tool", {}).get("dumpfix", {})
    if not isinstance(table, dict):
        raise DumpfixError("[tool.dumpfix] must be a table", location=str(path))
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            names = ", ".join(sorted(k.replace("_", "-") for k in known))
            raise DumpfixError(f"unknown setting {key!r} in [tool.dumpfix] (known: {names})", location=str(path))
        if name in PATH_KEYS:
            value = _paths(path, key, value)
        values[name] = value
    return Config(path, values)


def _paths(path: Path, key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise DumpfixError(f"{key} must be a path or a list of paths", location=str(path))
    return [str(path.parent / v) for v in items]


def _has_table(path: Path) -> bool:
    """Whether the file configures dumpfix; a broken file is an error, not skipped past."""
    tool = _read(path).get("tool", {})
    return isinstance(tool, dict) and "dumpfix" in tool


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise DumpfixError(f"not valid TOML: {e}", location=str(path)) from None
    except OSError as e:
        raise DumpfixError(f"cannot read: {e.strerror or e}", location=str(path)) from None
