"""Architecture rules checked on the source: no import cycles in hub/, no cast() on transports.

Static: every module under hub/ is parsed with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"

KNOWN_CYCLES: dict[frozenset[str], str] = {
    # the modules of one cycle (all of its strongly connected component) -> why it is
    # still here. Only shrinks: test_known_cycles_are_still_cycles fails once one is gone.
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(HUB.rglob("*.py"))}


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports executed when the module loads (also under ``if TYPE_CHECKING:``, ``try``,
    class bodies), not those inside functions."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.For | ast.While | ast.With):
            yield from _module_level(node.body)
            yield from _module_level(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body)
            for handler in node.handlers:
                yield from _module_level(handler.body)
            yield from _module_level(node.orelse)
            yield from _module_level(node.finalbody)
        elif isinstance(node, ast.ClassDef):
            yield from _module_level(node.body)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the hub modules it imports at module level."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets: set[str] = set()
        for node in _module_level(tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    targets.add(alias.name)
            else:
                base = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, as ``[a, b, ..., a]``."""
    return [chain for _, chain in cyclic_components(graph)]


def cyclic_components(graph: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Each strongly connected component with more than one module (Tarjan), with the
    shortest cycle through its first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for comp in components:
        start = min(comp)
        # shortest way back to start inside the component (breadth first)
        prev: dict[str, str] = {}
        queue = [start]
        found = None
        while queue and found is None:
            nxt = []
            for v in queue:
                for w in sorted(graph[v] & comp):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            queue = nxt
        assert found is not None
        chain = [start]
        v = found
        while v != start:
            chain.append(v)
            v = prev[v]
        cycles.append((frozenset(comp), [start, *reversed(chain[1:]), start]))
    return cycles


def test_no_import_cycles_in_hub() -> None:
    unknown = [c for comp, c in cyclic_components(import_graph()) if comp not in KNOWN_CYCLES]
    assert not unknown, "import cycles in hub/:\n" + "\n".join(" -> ".join(c) for c in unknown)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"x": {"y"}, "y": set()}) == []
    # two cycles through one module are one component: both modules sets are reported
    ((comp, chain),) = cyclic_components({"a": {"b", "c"}, "b": {"a"}, "c": {"a"}})
    assert comp == {"a", "b", "c"} and chain == ["a", "b", "a"]


def test_import_graph_sees_module_level_and_type_checking_imports() -> None:
    graph = import_graph()
    # from-import of a submodule, relative imports inside a package, TYPE_CHECKING imports
    assert "hub.hookspecs" in graph["hub.core.plugins"]
    assert "hub.core.transports.mqtt.codec" in graph["hub.core.transports.mqtt.client"]
    assert "hub.config_view" in graph["hub.hookspecs"]


def test_known_cycles_are_still_cycles() -> None:
    """A removed cycle must leave KNOWN_CYCLES too, so the list only shrinks."""
    present = {comp for comp, _ in cyclic_components(import_graph())}
    assert not [sorted(c) for c in KNOWN_CYCLES if c not in present]


TRANSPORT_TYPES = {"MessageTransport", "SerialTransport", "HttpIngest", "HttpClient", "ByteStream"}


def _transport_casts(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name != "cast":
            continue
        target = ast.unparse(node.args[0])
        value = ast.unparse(node.args[-1])
        if target.split(".")[-1] in TRANSPORT_TYPES or ".transport(" in value:
            yield f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"


def test_no_cast_on_transports_in_plugins() -> None:
    """Plugins get typed transports from ctx.mqtt()/serial()/http_server()/http_client()."""
    files = [
        *sorted((HUB / "plugins").rglob("*.py")),
        *sorted((HUB / "outputs").rglob("*.py")),
        *sorted((ROOT / "contrib" / "plugin-template").rglob("*.py")),
    ]
    assert len(files) > 10
    found = [line for path in files for line in _transport_casts(path)]
    assert not found, "use the typed accessors instead of cast():\n" + "\n".join(found)


def test_the_cast_check_finds_a_cast(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import cast\n"
        'mqtt = cast(MessageTransport, ctx.transport("mqtt", None))\n'
        'other = cast(Any, self.ctx.transport("custom"))\n'
        "fine = cast(MyConfig, config)\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = list(_transport_casts(bad))
    finally:
        ROOT = saved
    assert [f.split(":")[1] for f in found] == ["2", "3"]


MAX_MODULE_LINES = 500


def test_no_module_in_hub_is_over_500_lines() -> None:
    """Modules stay small, split by reason to change (STYLE.md)."""
    big = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"split these modules (over {MAX_MODULE_LINES} lines): {big}"
