"""The privacy report rendered from a configuration, and the view templates of docs/privacy.md."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from hub.outputs.http import WebhookConfig, WebhookSink
from hub.outputs.mqtt import MqttSinkConfig
from hub.outputs.sqlite import SqliteConfig
from hub.plugin import SourceConfig
from hub.site import Site, Zone
from hub.views import parse_views, site_problems
from hub.views.report import privacy_report
from tests.views.helpers import SITE

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def test_the_report_states_what_where_how_long_and_who_sees_what() -> None:
    views, probs = parse_views(
        [
            {"id": "police", "name": "Politie", "actions": ["acknowledge"], "history_days": 7},
            {
                "id": "public",
                "zones": ["beach"],
                "levels_only": True,
                "time_resolution": "15min",
                "delay_s": 900,
            },
            {"id": "org", "time_resolution": "1h", "suppress_below": 15, "noise": True},
        ]
    )
    assert probs == []
    text = privacy_report(
        site=SITE,
        views=views,
        sinks={
            "sqlite": [SqliteConfig(id="store", keep_raw_days=14, keep_aggregates_days=365)],
            "mqtt": [MqttSinkConfig(id="feed", view="public"), MqttSinkConfig(id="raw")],
            "http": [WebhookConfig(id="hook", url="http://127.0.0.1:9/x", view="org")],
        },
        sources={"wifi_counter": [SourceConfig(id="wifi-1", zone="beach")]},
        data_dir="/var/lib/crowdhub",
        sink_classes={"http": WebhookSink},
        source_descriptions={"wifi_counter": "WiFi/BLE counters"},
        config_file="hub.toml",
    )
    assert text.startswith("# Privacy report: fair\n")
    assert "`hub privacy-report hub.toml`" in text
    assert "| wifi-1 | wifi_counter | zone beach | WiFi/BLE counters; the device sees radio" in text
    assert "`/var/lib/crowdhub`" in text
    assert "| feed | mqtt | yes | public |" in text
    assert "| raw | mqtt | yes | **none: check-config refuses this** |" in text
    assert "| store | sqlite | no | internal (local) |" in text
    assert "| hook | http | yes | org |" in text
    assert "**14 days**" in text and "**365 days**" in text
    assert re.search(
        r"\| public \| beach \| all \| all \| no \| colour levels only, no numbers; "
        r"aggregated per 15min; 15 minutes late \| 30 days \| view only \| `[0-9a-f]{16}` \|",
        text,
    )
    assert "counts below 15 per interval shown as 0; ±1 noise" in text
    assert (
        "| police (Politie) | all | all | all | no | full detail | 7 days | acknowledge |" in text
    )


def test_the_templates_in_docs_privacy_md_validate() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    raw_views = [v for b in blocks for v in tomllib.loads(b).get("views", [])]
    assert [v["id"] for v in raw_views] == ["municipality", "police", "organiser", "public"]
    for v in raw_views:  # tokens come from the environment: the loader fills them in
        if "token" in v:
            v["token"] = f"token-of-{v['id']}"
    views, probs = parse_views(raw_views)
    assert [str(p) for p in probs] == []
    site = Site(zones=(Zone(id="festival-field", area_m2=9000), Zone(id="boulevard", area_m2=900)))
    assert site_problems(views, site) == []
    public = next(v for v in views if v.id == "public")
    assert public.levels_only and public.delay_s == 900
