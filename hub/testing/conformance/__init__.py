"""The conformance kit: prove a source adapter works before it reaches a municipality.

Three ways to run the same checks on a :class:`hub.Source` subclass and a folder
of cases (format: ``contrib/conformance.md``)::

    hub conformance my_counter --cases tests/conformance --report report.md

    report = run_conformance(MySource, "tests/conformance")
    print(report.to_text()); assert report.passed

    class TestMine(ConformanceTests):          # pytest: one test per check and case
        source_class = MySource
        cases_dir = Path(__file__).parent / "conformance"

The checks: config conventions (``hub.SourceConfig`` subclass, unknown keys
rejected, every field described, ``sample.toml`` valid); each case's expected
events; fault injection (garbage, truncated, oversized, duplicated, replayed later and
out-of-order input, a restart, clock skew, a disconnect, a slow consumer);
prompt cancellation without leftover tasks; valid events only; no identifier
in events, logs or errors; no step that blocks the event loop; throughput.

Each source run happens on a fresh event loop, so this module is synchronous:
call :func:`run_conformance` from plain code or a sync test, or
``await asyncio.to_thread(run_conformance, ...)`` from async code.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_STEP_S",
    "Case",
    "CaseError",
    "CheckResult",
    "ConformanceTests",
    "ManualClock",
    "Report",
    "load_cases",
    "planned_checks",
    "resolve_source",
    "run_conformance",
]

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from hub.errors import PluginError
from hub.plugin import Source
from hub.testing.clocks import ManualClock
from hub.testing.conformance.cases import Case, CaseError, load_cases
from hub.testing.conformance.checks import DEFAULT_MAX_STEP_S, ConformanceRunner
from hub.testing.conformance.config import find_sample
from hub.testing.conformance.report import CheckResult, Report


def _runner(
    source_class: type[Source[Any]],
    cases_dir: str | Path | None,
    *,
    sample: str | Path | bool | None = None,
    max_step_s: float = DEFAULT_MAX_STEP_S,
    target: str | None = None,
) -> ConformanceRunner:
    cases = load_cases(cases_dir) if cases_dir is not None else []
    if sample is False:
        sample_path = None
    elif sample is None or sample is True:
        sample_path = find_sample(source_class)
    else:
        sample_path = Path(sample)
    return ConformanceRunner(
        source_class,
        cases,
        target=target,
        cases_dir=cases_dir,
        sample_path=sample_path,
        max_step_s=max_step_s,
    )


def planned_checks(
    source_class: type[Source[Any]],
    cases_dir: str | Path | None,
    *,
    sample: str | Path | bool | None = None,
) -> list[tuple[str, str]]:
    """``(check id, title)`` of every check a run would report (without running it)."""
    return _runner(source_class, cases_dir, sample=sample).planned()


def run_conformance(
    source_class: type[Source[Any]],
    cases_dir: str | Path | None,
    *,
    sample: str | Path | bool | None = None,
    max_step_s: float = DEFAULT_MAX_STEP_S,
    target: str | None = None,
) -> Report:
    """Run every check on ``source_class`` with the cases in ``cases_dir``.

    ``sample``: the sample config to validate (default: ``sample.toml`` next to the
    source's module, if there is one; ``False`` to skip). ``max_step_s``: the
    longest a single step of the source may hold the event loop. Raises
    :class:`CaseError` when a case folder is not in the documented format.
    """
    return _runner(
        source_class, cases_dir, sample=sample, max_step_s=max_step_s, target=target
    ).run()


def resolve_source(target: str) -> type[Source[Any]]:
    """A source class from a kind (``tfluna``, any installed plugin's kind), a
    ``package.module:Class`` or a ``path/to/file.py:Class``. Raises PluginError.

    ``package.module`` is imported as installed, else from the current directory.
    A ``file.py`` inside a package (its folder has ``__init__.py``) is imported as
    that package's module, so its relative imports work.
    """
    if ":" not in target:
        from hub.core.plugins import load_plugins

        registry = load_plugins()
        if target not in registry.sources:
            kinds = ", ".join(sorted(registry.sources)) or "none"
            raise PluginError(
                f"no source kind {target!r}; installed source kinds: {kinds} (or give module:Class)"
            )
        return registry.sources[target][0]
    module_name, _, attr = target.rpartition(":")
    try:
        if module_name.endswith(".py"):
            module = _import_file(Path(module_name))
        else:
            module = _import_dotted(module_name)
    except PluginError:
        raise
    except ImportError as err:
        hint = ""
        if "relative import" in str(err):
            hint = (
                "; the file uses relative imports: give it as package.module:Class from the "
                "folder that holds the package (or keep the package's __init__.py)"
            )
        raise PluginError(
            f"cannot import {module_name}: {type(err).__name__}: {err}{hint}"
        ) from err
    except Exception as err:
        raise PluginError(f"cannot import {module_name}: {type(err).__name__}: {err}") from err
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise PluginError(f"{target}: {attr!r} is not a hub.Source subclass in {module_name}")
    return cls


def _on_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
        importlib.invalidate_caches()


def _import_dotted(name: str) -> ModuleType:
    """``name`` as installed; else from the current directory (``hub`` is a console script:
    its ``sys.path`` does not hold the directory it was started in)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        top = name.split(".", 1)[0]
        if err.name not in {top, name} and not name.startswith(f"{err.name}."):
            raise  # something the module itself imports is missing
        if not (Path.cwd() / top).exists() and not (Path.cwd() / f"{top}.py").exists():
            raise
    _on_path(Path.cwd())
    return importlib.import_module(name)


def _import_file(file: Path) -> ModuleType:
    """A ``.py`` file: as a module of its package when its folder is one, else standalone."""
    path = file.resolve()
    if not path.is_file():
        raise PluginError(f"cannot import {file}: no such file")
    parts = [path.stem]
    root = path.parent
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    if len(parts) > 1:
        if parts[-1] == "__init__":
            parts.pop()
        _on_path(root)
        return importlib.import_module(".".join(parts))
    spec = importlib.util.spec_from_file_location(f"_conformance_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_REPORTS: dict[tuple[type[Any], str, str], Report] = {}


class ConformanceTests:
    """Subclass in your test suite; pytest then runs one test per check and per case::

        class TestMyCounter(ConformanceTests):
            source_class = MyCounterSource
            cases_dir = Path(__file__).parent / "conformance"

    The whole kit runs once per class (on first use); each test asserts one check
    and fails with the check's reason.
    """

    source_class: ClassVar[type[Source[Any]] | None] = None
    cases_dir: ClassVar[str | Path | None] = None
    sample_config: ClassVar[str | Path | bool | None] = None
    """The sample config to validate; default ``sample.toml`` next to the source module."""
    max_step_s: ClassVar[float] = DEFAULT_MAX_STEP_S

    @classmethod
    def conformance_report(cls) -> Report:
        """The report for this class's source and cases (computed once)."""
        if cls.source_class is None:
            raise TypeError(f"{cls.__name__}: set source_class = YourSource")
        key = (cls.source_class, str(cls.cases_dir), str(cls.sample_config))
        if key not in _REPORTS:
            _REPORTS[key] = run_conformance(
                cls.source_class,
                cls.cases_dir,
                sample=cls.sample_config,
                max_step_s=cls.max_step_s,
            )
        return _REPORTS[key]

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "conformance_check" not in metafunc.fixturenames:
            return
        cls = metafunc.cls
        if cls is None or cls.source_class is None:
            metafunc.parametrize("conformance_check", [], ids=[])
            return
        ids = [
            check_id
            for check_id, _ in planned_checks(
                cls.source_class, cls.cases_dir, sample=cls.sample_config
            )
        ]
        metafunc.parametrize("conformance_check", ids, ids=ids)

    def test_conformance(self, conformance_check: str) -> None:
        result = type(self).conformance_report().check(conformance_check)
        details = "".join(f"\n  {d}" for d in result.details[:20])
        assert result.passed, f"{result.id}: {result.reason}{details}"
