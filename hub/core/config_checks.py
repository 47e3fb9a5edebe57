"""Checks across a validated configuration that one model alone cannot make.

Each returns :class:`~hub.errors.ConfigProblem` lines, so ``hub check-config``
reports them before start instead of the hub failing (or silently dropping
events) later:

* every zone and line a source refers to exists in ``[site]``;
* ids unique within ``[sources]`` and within ``[sinks]`` across kinds (status,
  metrics and the data dir key on them);
* ids that go into every event (site, zones, lines, sources) not shaped like an
  identifier the privacy check refuses (a MAC-like line id dead-letters every event);
* no secret given but empty (``"${TOKEN:-}"`` with TOKEN unset);
* a ``data_dir`` the hub can create and write.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from hub.errors import ConfigProblem
from hub.privacy import classify_text
from hub.site import Site
from hub.transports import HttpAuth

# the secret each HTTP auth scheme cannot work without
_SCHEME_NEEDS = {"bearer": ("token",), "basic": ("username", "password"), "hmac": ("hmac_secret",)}

_ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_WHY_UNIQUE = {
    "sources": "they name events, HTTP routes, status and metrics",
    "sinks": "status, metrics and the data dir key on them",
}


def duplicate_ids(table: str, instances: Mapping[str, list[Any]]) -> list[ConfigProblem]:
    """An id used by two kinds of the same table (the same kind is checked on load)."""
    problems = []
    seen: dict[str, str] = {}
    for kind, items in instances.items():
        for cfg in items:
            other = seen.get(cfg.id)
            if other is not None and other != kind:
                problems.append(
                    ConfigProblem(
                        f"{table}.{kind}[{cfg.id}].id",
                        f"id also used by {table}.{other}[{cfg.id}]; ids must be unique within "
                        f"[{table}] ({_WHY_UNIQUE.get(table, 'they name the instance')}); "
                        "rename one of them",
                    )
                )
            seen.setdefault(cfg.id, kind)
    return problems


def _identifier_problem(where: str, value: str, what: str) -> ConfigProblem | None:
    kind = classify_text(value)
    if kind is None:
        return None
    article = "an" if kind[0] in "AEIOUaeiou" else "a"
    return ConfigProblem(
        where,
        f"{value!r} looks like {article} {kind}; the privacy check refuses events that carry "
        "one, so "
        f"every event of this {what} would be dead-lettered; choose a plain name such as "
        "'gate-a'",
    )


def identifier_shaped_ids(site: Site, sources: Mapping[str, list[Any]]) -> list[ConfigProblem]:
    """Ids copied into every event that the privacy check would take for a person's id."""
    found = [_identifier_problem("site.id", site.id, "site")]
    found += [_identifier_problem(f"site.zones[{z.id}].id", z.id, "zone") for z in site.zones]
    found += [_identifier_problem(f"site.lines[{ln.id}].id", ln.id, "line") for ln in site.lines]
    for kind, items in sources.items():
        found += [_identifier_problem(f"sources.{kind}[{c.id}].id", c.id, "source") for c in items]
    return [p for p in found if p is not None]


def empty_secrets(
    value: Any, where: str, raw_path: str, env_refs: Mapping[str, str], written: bool = True
) -> list[ConfigProblem]:
    """Every secret field (pydantic ``SecretStr``/``SecretBytes``) given but empty, and
    every :class:`~hub.transports.HttpAuth` whose scheme lacks its secret.

    A plugin that does not need a secret leaves the field out (None); an empty one is
    always a mistake, most often an environment variable that is not exported.
    ``env_refs`` maps raw paths (``sources.kind[0].auth.token``) to the text written
    in the file, so the message can name the variable. An auth table is only checked
    when it is ``written`` in the file (a default the plugin never uses is not an error).
    """
    out: list[ConfigProblem] = []
    if isinstance(value, SecretStr | SecretBytes):
        if len(value.get_secret_value()) == 0:
            ref = env_refs.get(raw_path, "")
            names = _ENV_NAME.findall(ref)
            hint = (
                f"{ref!r} gave an empty value; export {' and '.join(names)} with the secret"
                if names
                else 'set it, e.g. "${MY_SECRET}" with MY_SECRET exported, or leave the key out'
            )
            out.append(ConfigProblem(where, f"secret is empty: {hint}"))
    elif isinstance(value, BaseModel):
        if isinstance(value, HttpAuth) and written:
            for key in _SCHEME_NEEDS.get(value.scheme, ()):
                if getattr(value, key) is None:
                    out.append(
                        ConfigProblem(
                            f"{where}.{key}",
                            f"auth scheme {value.scheme!r} needs {key}; add "
                            f'{key} = "${{...}}" (an environment variable) or choose another '
                            "scheme",
                        )
                    )
        for name, info in type(value).model_fields.items():
            key = info.alias or name
            out += empty_secrets(
                getattr(value, name),
                f"{where}.{key}",
                f"{raw_path}.{key}",
                env_refs,
                written and name in value.model_fields_set,
            )
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            out += empty_secrets(item, f"{where}[{i}]", f"{raw_path}[{i}]", env_refs, written)
    elif isinstance(value, dict):
        for k, item in value.items():
            out += empty_secrets(item, f"{where}.{k}", f"{raw_path}.{k}", env_refs, written)
    return out


def data_dir_problem(path: Path) -> ConfigProblem | None:
    """None when the hub can create ``path`` and write a file in it.

    Folders created for the probe are removed again: checking leaves nothing behind.
    """
    created: list[Path] = []
    try:
        missing = []
        existing = path
        while not existing.exists():
            missing.append(existing)
            existing = existing.parent
        if not existing.is_dir():
            return ConfigProblem(
                "hub.data_dir",
                f"cannot create {path}: {existing} is a file, not a folder; choose another "
                "data_dir (relative paths are relative to the config file)",
            )
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        with tempfile.TemporaryFile(dir=path, prefix=".crowdhub-probe-") as probe:
            probe.write(b"ok")
    except OSError as err:
        return ConfigProblem(
            "hub.data_dir",
            f"cannot create or write {path}: {err.strerror or err}; choose a folder the "
            "hub's user may write (relative paths are relative to the config file)",
        )
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return None


def site_references(
    site: Site,
    sources: Mapping[str, list[Any]],
    raw_sources: list[tuple[str, dict[str, Any]]],
) -> list[ConfigProblem]:
    """Every zone and line a source refers to exists in ``[site]``."""
    problems: list[ConfigProblem] = []
    zones = {z.id for z in site.zones}
    lines = {ln.id for ln in site.lines}
    # checked on the raw tables, so a table with other mistakes still gets this one reported
    for label, entry in raw_sources:
        zone, line = entry.get("zone"), entry.get("line")
        if isinstance(zone, str) and zone not in zones:
            problems.append(
                ConfigProblem(
                    f"{label}.zone",
                    f"unknown zone {zone!r}; add it under [[site.zones]] "
                    f"(known: {', '.join(sorted(zones)) or 'none'})",
                )
            )
        if isinstance(line, str) and line not in lines:
            problems.append(
                ConfigProblem(
                    f"{label}.line",
                    f"unknown line {line!r}; add it under [[site.lines]] "
                    f"(known: {', '.join(sorted(lines)) or 'none'})",
                )
            )
    for kind, items in sources.items():
        for cfg in items:
            label = f"sources.{kind}[{cfg.id}]"
            for name, value in _extra_refs(cfg):
                known = zones if name == "zone" else lines
                if value not in known:
                    problems.append(
                        ConfigProblem(
                            f"{label}",
                            f"refers to unknown {name} {value!r}; add it under "
                            f"[[site.{name}s]] (known: {', '.join(sorted(known)) or 'none'})",
                        )
                    )
    return problems


def _extra_refs(cfg: Any) -> list[tuple[str, str]]:
    """Zone/line ids a plugin config declares beyond ``zone``/``line`` (``site_refs()``)."""
    refs = getattr(cfg, "site_refs", None)
    if callable(refs):
        return list(refs())
    return []
