"""Config-model conventions and the plugin's sample configuration (conformance checks)."""

from __future__ import annotations

__all__ = ["config_checks", "find_sample"]

import importlib
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

import hub
from hub.errors import ConfigProblem, PluginError
from hub.plugin import Source, SourceConfig

CheckTuple = tuple[str, bool, str, list[str]]
UNKNOWN_KEY = "conformance_unknown_key"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def find_sample(cls: type[Any]) -> Path | None:
    """``sample_<kind>.toml`` (a plugin with several kinds) or ``sample.toml`` in the
    package that defines ``cls`` (the house layout), if any."""
    module = importlib.import_module(cls.__module__)
    package = module.__package__
    if not package:
        return None
    try:
        for name in (f"sample_{getattr(cls, 'kind', '')}.toml", "sample.toml"):
            path = resources.files(package).joinpath(name)
            if path.is_file():
                return Path(str(path))
    except (ModuleNotFoundError, TypeError):
        return None
    return None


def config_checks(
    cls: type[Source[Any]], base: dict[str, Any], sample: Path | None
) -> list[CheckTuple]:
    """``config.model``, ``config.unknown_keys``, ``config.descriptions``, ``config.sample``."""
    model: Any = getattr(cls, "config_model", None)
    name = getattr(model, "__name__", repr(model))
    out: list[CheckTuple] = []
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        msg = f"{cls.__name__}.config_model is {model!r}, not a pydantic model"
        return [
            ("config.model", False, msg, []),
            ("config.unknown_keys", False, msg, []),
            ("config.descriptions", False, msg, []),
            ("config.sample", False, msg, []),
        ]
    if issubclass(model, SourceConfig):
        out.append(("config.model", True, f"{name} subclasses hub.SourceConfig", []))
    else:
        out.append(
            (
                "config.model",
                False,
                f"{name} does not subclass hub.SourceConfig: derive it from hub.SourceConfig "
                "(it brings id, zone, line, the retry fields and extra='forbid')",
                [],
            )
        )
    out.append(_unknown_keys(model, name, base))
    missing = [f for f, info in model.model_fields.items() if not info.description]
    if missing:
        out.append(
            (
                "config.descriptions",
                False,
                f"{name} fields without a description: {', '.join(missing)}; add "
                "Field(description=...) (they become the comments of `hub sample-config`)",
                [],
            )
        )
    else:
        out.append(
            ("config.descriptions", True, f"all {len(model.model_fields)} fields described", [])
        )
    if sample is not None:
        out.append(_sample(cls, sample))
    return out


def _unknown_keys(model: type[BaseModel], name: str, base: dict[str, Any]) -> CheckTuple:
    try:
        model.model_validate(base)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        return (
            "config.unknown_keys",
            False,
            f"the base config (the first case's [source] table) does not validate: "
            f"{loc}: {e['msg']}",
            [],
        )
    try:
        model.model_validate({**base, UNKNOWN_KEY: 1})
    except ValidationError as err:
        if any(e["type"] == "extra_forbidden" for e in err.errors()):
            return ("config.unknown_keys", True, f"{UNKNOWN_KEY!r} rejected as unknown", [])
        return (
            "config.unknown_keys",
            False,
            f"an unknown key failed with {err.errors()[0]['type']!r}, not 'extra_forbidden'",
            [],
        )
    extra = model.model_config.get("extra")
    return (
        "config.unknown_keys",
        False,
        f"{name} accepted the unknown key {UNKNOWN_KEY!r} silently (extra={extra!r}): keep "
        "extra='forbid' (hub.SourceConfig's) so a misspelled key is a config error",
        [],
    )


def _substitute(value: Any) -> Any:
    """``${NAME}`` → the variable, its default, or a placeholder (secrets are not needed)."""
    if isinstance(value, str):
        return _ENV_REF.sub(
            lambda m: os.environ.get(m.group(1), m.group(2) or "conformance-placeholder"), value
        )
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    return value


def _registry_with(cls: type[Source[Any]]) -> Any:
    """A plugin registry in which ``cls`` is the source of its kind."""
    from hub.core.plugins import load_plugins  # the kit validates like `hub check-config`

    try:
        registry = load_plugins()
    except PluginError:
        registry = load_plugins(entrypoints=False)
    current = registry.sources.get(cls.kind)
    if current is not None and current[0] is cls:
        return registry

    class _Target:
        @hub.hookimpl
        def register_sources(self, register: Any) -> None:
            register(cls)

    block = [current[1].name] if current is not None else []
    try:
        return load_plugins(block=block, extra=[("conformance-target", _Target())])
    except PluginError:
        return load_plugins(
            entrypoints=False, block=block, extra=[("conformance-target", _Target())]
        )


def _sample(cls: type[Source[Any]], path: Path) -> CheckTuple:
    from hub.core.config import validate_config

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        return ("config.sample", False, f"{path}: not valid TOML: {err}", [])
    try:
        registry = _registry_with(cls)
    except PluginError as err:
        return ("config.sample", False, f"cannot load plugins to validate {path}: {err}", [])
    problems: list[ConfigProblem] = []
    config = validate_config(_substitute(raw), registry, problems)
    if problems or config is None:
        lines = [str(p) for p in problems] or ["invalid"]
        return ("config.sample", False, f"{path.name}: {lines[0]}", lines[1:])
    mine = config.sources.get(cls.kind, [])
    if not mine:
        return (
            "config.sample",
            False,
            f"{path.name} has no [[sources.{cls.kind}]] table: show the plugin's own source",
            [],
        )
    return ("config.sample", True, f"{path.name} validates ({len(mine)} {cls.kind} source(s))", [])
