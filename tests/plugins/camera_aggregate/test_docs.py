"""The sample config is complete and valid, and the README embeds it verbatim."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import hub.plugins.camera_aggregate as plugin
from hub import Site
from hub.plugins.camera_aggregate.config import CameraAggregateConfig
from hub.plugins.camera_aggregate.source import CameraAggregateSource

HERE = Path(plugin.__file__).parent


def test_sample_config_validates() -> None:
    text = (HERE / "sample.toml").read_text()
    assert "${CAMERA_PUSH_PASSWORD}" in text  # secrets come from the environment
    doc = tomllib.loads(re.sub(r"\$\{[A-Z_]+\}", "from-env", text))
    site = Site.model_validate(doc["site"])
    sources = doc["sources"]["camera_aggregate"]
    configs = [CameraAggregateConfig.model_validate(s) for s in sources]
    assert {c.device for c in configs} == {"axis", "hikvision", "vivotek"}
    for c in configs:
        lines = [s.line for s in c.scenarios] + [m.line for m in c.channels]
        for line in lines + [r.line for r in c.rules]:
            assert line is None or site.line(line) is not None
        for kind, ident in CameraAggregateSource.required_transports(c):
            ids = [t.get("id", "default") for t in doc["transports"][kind]]
            assert (ident or "default") in ids


def test_readme_embeds_sample_verbatim() -> None:
    readme = (HERE / "README.md").read_text()
    sample = (HERE / "sample.toml").read_text()
    assert f"```toml\n{sample}```" in readme


def test_every_config_field_is_described() -> None:
    from hub.plugins.camera_aggregate import config

    for model in (
        config.CameraAggregateConfig,
        config.AxisScenario,
        config.HikvisionChannel,
        config.VivotekRule,
    ):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
