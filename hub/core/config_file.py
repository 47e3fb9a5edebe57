"""Reading the config file: TOML parsing with precise errors, ``${ENV}`` substitution."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from hub.core.config_hints import duplicate_key_problem
from hub.errors import ConfigError, ConfigProblem

__all__ = ["read_toml", "substitute_env"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse the file or raise ConfigError with the file name and TOML position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    "",
                    "file not found; give the path of a crowdhub TOML config "
                    "(`hub sample-config --all` prints a whole one)",
                )
            ],
            str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([ConfigProblem("", f"cannot read file: {err}")], str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        problem = duplicate_key_problem(text, err) or ConfigProblem("", f"not valid TOML: {err}")
        raise ConfigError([problem], str(path)) from None


def substitute_env(
    value: Any, path: str, problems: list[ConfigProblem], refs: dict[str, str] | None = None
) -> Any:
    """Replace ``${NAME}`` references in every string, recursively.

    ``refs``, when given, records the text as written for every path that had a reference.
    """
    if isinstance(value, str):
        if refs is not None and "${" in value:
            refs[path] = value

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            env = os.environ.get(name)
            if env is not None:
                return env
            if default is not None:
                return default
            problems.append(
                ConfigProblem(
                    path,
                    f"environment variable {name} is not set; export it or use "
                    f"${{{name}:-default}}",
                )
            )
            return ""

        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {
            k: substitute_env(v, f"{path}.{k}" if path else k, problems, refs)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_env(v, f"{path}[{i}]", problems, refs) for i, v in enumerate(value)]
    return value
