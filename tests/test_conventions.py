"""Conventions enforced by tests, not review: documented hooks, plugin layout, valid samples,
a sorted public API."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import hub
import hub.hookspecs
from hub.core.config import load_config
from hub.core.plugins import BUILTIN_PLUGINS, load_plugins

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIRS = sorted(
    p for p in (REPO / "hub" / "plugins").iterdir() if p.is_dir() and (p / "__init__.py").exists()
)
LAYOUT = ["__init__.py", "config.py", "protocol.py", "source.py", "README.md"]


def source_kinds(plugin_dir: Path) -> list[str]:
    """The source kinds the bundled plugin named like the folder registers."""
    reg = load_plugins(entrypoints=False)
    (info,) = [p for p in reg.plugins if p.name == plugin_dir.name]
    return sorted(info.sources)


def samples(plugin_dir: Path) -> dict[str, Path]:
    """Kind -> its sample: ``sample_<kind>.toml``, or the plugin's one ``sample.toml``."""
    out = {}
    for kind in source_kinds(plugin_dir):
        own = plugin_dir / f"sample_{kind}.toml"
        out[kind] = own if own.exists() else plugin_dir / "sample.toml"
    return out


def hookspecs() -> list[tuple[str, str]]:
    out = []
    for name, fn in inspect.getmembers(hub.hookspecs, inspect.isfunction):
        if hasattr(fn, "crowdhub_spec"):
            sig = str(inspect.signature(fn)).replace("'", "")
            out.append((name, f"{name}{sig}"))
    return out


def test_there_are_hooks() -> None:
    names = {n for n, _ in hookspecs()}
    assert {
        "register_sources",
        "register_sinks",
        "register_transports",
        "configure",
        "startup",
        "shutdown",
    } <= names


@pytest.mark.parametrize(("name", "signature"), hookspecs())
def test_every_hook_is_documented_with_its_exact_signature(name: str, signature: str) -> None:
    doc = (REPO / "contrib" / "hooks.md").read_text()
    headings = re.findall(r"^## `(.+)`$", doc, flags=re.M)
    assert signature in headings, f"contrib/hooks.md needs a section '## `{signature}`'"
    fn = getattr(hub.hookspecs, name)
    assert fn.__doc__ and len(fn.__doc__.strip()) > 40


def test_no_undocumented_extra_hook_sections() -> None:
    doc = (REPO / "contrib" / "hooks.md").read_text()
    headings = re.findall(r"^## `(\w+)\(", doc, flags=re.M)
    assert sorted(headings) == sorted(n for n, _ in hookspecs())


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_bundled_plugin_layout(plugin_dir: Path) -> None:
    missing = [f for f in LAYOUT if not (plugin_dir / f).exists()]
    assert not missing, f"{plugin_dir.name} lacks {missing}"
    init = (plugin_dir / "__init__.py").read_text()
    # __init__ holds hookimpls only: no classes defined there
    assert not re.search(r"^class ", init, flags=re.M)
    # the folder name is the built-in plugin name and its source kind (or, for a plugin
    # with one kind per device, each kind has its own sample_<kind>.toml)
    assert (plugin_dir.name, f"hub.plugins.{plugin_dir.name}") in BUILTIN_PLUGINS
    kinds = source_kinds(plugin_dir)
    assert kinds == [plugin_dir.name] or all(
        (plugin_dir / f"sample_{k}.toml").exists() for k in kinds
    ), f"{plugin_dir.name} registers {kinds}: one sample_<kind>.toml per kind"
    missing_samples = [str(p.name) for p in samples(plugin_dir).values() if not p.exists()]
    assert not missing_samples, f"{plugin_dir.name} lacks {missing_samples}"
    # built-ins come through the public door: never hub.core
    for py in plugin_dir.glob("*.py"):
        assert "hub.core" not in py.read_text(), f"{py} imports hub.core"


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_readme_embeds_the_sample_config(plugin_dir: Path) -> None:
    readme = (plugin_dir / "README.md").read_text()
    for path in set(samples(plugin_dir).values()):
        sample = path.read_text().strip()
        assert sample in readme, f"{plugin_dir.name}/README.md must embed {path.name} verbatim"


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_sample_config_validates(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for kind, path in samples(plugin_dir).items():
        # secrets are ${ENV} references in samples: give them values as a user would export
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", path.read_text()):
            monkeypatch.setenv(name, "sample-secret-value")
        cfg = load_config(path, load_plugins(entrypoints=False))
        assert cfg.sources.get(kind), f"{path.name} configures a {kind} source"


def test_demo_config_validates() -> None:
    load_config(REPO / "hub" / "demo" / "demo.toml", load_plugins(entrypoints=False))


@pytest.mark.parametrize("kind", ["sources", "sinks", "transports"])
def test_config_models_forbid_unknown_keys_and_describe_fields(kind: str) -> None:
    reg = load_plugins(entrypoints=False)
    base_fields = {
        "id",
        "enabled",
        "zone",
        "line",
        "on_startup_error",
        "retry_initial_s",
        "retry_max_s",
        "batch_size",
        "linger_s",
        "queue_size",
        "measurements",
    }
    for name, (cls, _) in getattr(reg, kind).items():
        model = cls.config_model
        assert model.model_config.get("extra") == "forbid", f"{kind}.{name}"
        undocumented = [
            f
            for f, info in model.model_fields.items()
            if not info.description and f not in base_fields
        ]
        assert not undocumented, f"{kind}.{name}: fields without description: {undocumented}"


def test_public_api_is_sorted_and_importable() -> None:
    assert hub.__all__ == sorted(hub.__all__, key=lambda s: (not s.isupper(), s))
    for name in hub.__all__:
        assert hasattr(hub, name), name
    assert (REPO / "hub" / "py.typed").exists()
