"""Commented sample configurations: a plugin's ``sample.toml`` or one generated from
its config model (descriptions as comments, defaults as values)."""

from __future__ import annotations

import importlib
import json
from importlib import resources
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from hub.core.plugins import Registry
from hub.views import INTERNAL, leaves_machine


def plugin_sample_file(cls: type[Any]) -> str | None:
    """The text of ``sample_<kind>.toml`` (a plugin with several kinds) or ``sample.toml``
    in the package that defines ``cls``, if any."""
    module = importlib.import_module(cls.__module__)
    package = module.__package__ or cls.__module__
    try:
        for name in (f"sample_{getattr(cls, 'kind', '')}.toml", "sample.toml"):
            path = resources.files(package).joinpath(name)
            if path.is_file():
                return path.read_text(encoding="utf-8")
    except (ModuleNotFoundError, TypeError):
        return None
    return None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def _placeholder(name: str, annotation: Any, example_id: str) -> Any:
    """A value that validates for a required field without a default or example."""
    if name == "id":
        return example_id
    text = str(annotation)
    for typ, value in (("float", 1.0), ("int", 1), ("bool", False)):
        if text == f"<class '{typ}'>":
            return value
    return "..."


def model_lines(
    model: type[BaseModel],
    values: dict[str, Any] | None = None,
    *,
    example_id: str = "example",
    skip: tuple[str, ...] = (),
) -> list[str]:
    """One ``key = value`` line per field, its description as a comment above it.

    ``values`` overrides defaults; required fields get their first ``examples`` entry or a
    placeholder; fields without a value (None) are written commented out.
    """
    values = values or {}
    lines = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        key = info.alias or name
        desc = info.description or ""
        required = info.default is PydanticUndefined and info.default_factory is None
        if desc or required:
            lines.append(f"# {desc} (required)".replace("#  (", "# (") if required else f"# {desc}")
        if name in values:
            value = values[name]
        elif required:
            value = (
                info.examples[0]
                if info.examples
                else _placeholder(name, info.annotation, example_id)
            )
        else:
            value = info.get_default(call_default_factory=True)
        lines.append(f"# {key} =" if value is None else f"{key} = {_toml_value(value)}")
    return lines


def sample_values(table: str, kind: str, cls: type[Any]) -> dict[str, Any] | None:
    """Values a generated sample needs beyond the defaults: an output that leaves the
    machine must name a view, so its sample names the full-detail one."""
    if table == "sinks" and leaves_machine(kind, cls):
        return {"view": INTERNAL}
    return None


def generated_sample(
    table: str, kind: str, model: type[BaseModel], values: dict[str, Any] | None = None
) -> str:
    lines = [f"# {table}.{kind}: generated from its config model", f"[[{table}.{kind}]]"]
    lines += model_lines(model, values, example_id=f"{kind}-1")
    return "\n".join(lines) + "\n"


def sample_for(registry: Registry, kind: str) -> str | None:
    for table, entries in (
        ("sources", registry.sources),
        ("sinks", registry.sinks),
        ("transports", registry.transports),
    ):
        if kind in entries:
            cls = entries[kind][0]
            text = plugin_sample_file(cls) if table == "sources" else None
            values = sample_values(table, kind, cls)
            return text or generated_sample(table, kind, cls.config_model, values)
    return None
