"""Crafted inputs the fuzzer found get a precise refusal, never a crash: each as one parser
call (the way its source makes it, from bench/fuzz_targets.py), and the pushes through
the hub's real aiohttp ingest server on 127.0.0.1 (``ingest_client``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from fuzz_targets import CASES, FIX, parser_targets  # noqa: E402

import hub  # noqa: E402
from hub.errors import MalformedInput  # noqa: E402
from hub.plugins.generic_json.config import GenericJsonConfig  # noqa: E402
from hub.plugins.generic_json.source import GenericJsonSource  # noqa: E402
from hub.plugins.wifi_counter.config import WifiCounterConfig  # noqa: E402
from hub.plugins.wifi_counter.source import WifiCounterSource  # noqa: E402
from hub.testing import EventCollector, source_context  # noqa: E402
from hub.testing.conformance import load_cases  # noqa: E402
from hub.testing.fakes import fake_transports  # noqa: E402

TARGETS = {t.name: t for t in parser_targets()}
DEEP = b"[" * 100_000 + b"]" * 100_000
TTN = json.loads((FIX / "wifi_counter/fixtures/ttn_v3_uplink_paxcounter.json").read_bytes())
MERAKI = json.loads((FIX / "wifi_counter/fixtures/meraki_v2_devicesseen.json").read_bytes())
CROWDFLOW = load_cases(CASES / "generic_json")[0]


def _ttn(**changes: Any) -> bytes:
    doc = json.loads(json.dumps(TTN))
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return json.dumps(doc).encode()


AXIS_OCCUPANCY = {
    "topic": "axis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1",
    "timestamp": 1708000095000,
    "message": {"source": {}, "key": {}, "data": {"total": "5", "human": 2147483648}},
}

VIVOTEK_HUGE = (
    (FIX / "camera_aggregate/fixtures/vivotek_counting.json")
    .read_text()
    .replace('"In": 17', '"In": "253402300800"', 1)
    .encode()
)

REFUSED = [
    *[(name, DEEP, "nested too deeply") for name in ("ttn_uplink", "meraki", "xovis", "axis")],
    *[(name, DEEP, "nested too deeply") for name in ("vivotek", "generic_json[crowdflow_http]")],
    ("ttn_uplink", _ttn(end_device_ids__device_id="pax\ud800"), "not a TTN device id"),
    ("ttn_uplink", _ttn(uplink_message__f_cnt=2**64), "f_cnt is beyond its 32-bit range"),
    ("meraki", json.dumps(MERAKI | {"secret": "\ud800"}).encode(), "wrong secret"),
    # found by bench/fuzz.py on the live MQTT paths: each killed its source (schema bound 1e9)
    ("axis", json.dumps(AXIS_OCCUPANCY).encode(), "beyond any plausible count"),
    ("ttn_uplink", _ttn(uplink_message__decoded_payload__ble="253402300800"), "beyond any"),
    ("vivotek", VIVOTEK_HUGE, "beyond any plausible count"),  # was an HTTP 500
]


@pytest.mark.parametrize(("target", "payload", "message"), REFUSED)
def test_crafted_input_is_refused_with_malformed_input(
    target: str, payload: bytes, message: str
) -> None:
    with pytest.raises(MalformedInput, match=message):
        TARGETS[target].run(payload)


ENTITY = json.loads((CASES / "generic_json/crowdflow_http/entity-1.jsonld").read_bytes())


@pytest.mark.parametrize("count", [1e30, 2**63, 10**30])
def test_a_count_beyond_64_bits_is_refused(count: float) -> None:
    crafted = json.dumps(ENTITY | {"peopleCountTowards": count}).encode()
    with pytest.raises(MalformedInput, match=r"in: .* is beyond any count"):
        TARGETS["generic_json[crowdflow_http]"].run(crafted)
    readings, _ = TARGETS["generic_json[crowdflow_http]"].run(json.dumps(ENTITY).encode())
    assert [(r.in_, r.out) for r in readings] == [(50, 50)]


def test_non_finite_xovis_positions_count_nowhere() -> None:
    text = (FIX / "lidar/fixtures/xovis_push_live.json").read_text()
    pkg = TARGETS["xovis"].run(text.encode())
    assert all(o.x is not None for f in pkg.frames for o in f.objects)
    crafted = text.replace("-35.0", "NaN", 1).replace("120.0", "Infinity", 1).encode()
    pkg = TARGETS["xovis"].run(crafted)
    assert sum(o.x is None and o.y is None for f in pkg.frames for o in f.objects) == 1


# -- through the real HTTP server ---------------------------------------------------------


@contextlib.asynccontextmanager
async def _running(source: hub.Source[Any]) -> AsyncIterator[None]:
    task = asyncio.create_task(source.run(), name="crafted-source")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not check():
            await asyncio.sleep(0.01)


async def test_crafted_pushes_over_real_http_get_4xx(ingest_client: Any) -> None:
    server = ingest_client.server
    meraki_cfg = WifiCounterConfig(
        id="meraki", device="meraki", validator="v", secret=MERAKI["secret"], zone="hall"
    )
    gj_cfg = GenericJsonConfig.model_validate(CROWDFLOW.config | {"auth": {"scheme": "none"}})
    collector = EventCollector()
    sources = [
        WifiCounterSource(
            meraki_cfg,
            source_context(
                "wifi_counter",
                "meraki",
                site=hub.Site(id="s", zones=(hub.Zone(id="hall", area_m2=100.0),)),
                emit=collector,
                transports=fake_transports(http=server),
            ),
        ),
        GenericJsonSource(
            gj_cfg,
            source_context(
                "generic_json",
                gj_cfg.id,
                site=CROWDFLOW.site,
                emit=collector,
                transports=fake_transports(http=server),
            ),
        ),
    ]
    async with _running(sources[0]), _running(sources[1]):
        await _until(lambda: {"meraki", gj_cfg.id} <= set(server.health()["routes"]))
        surrogate = await ingest_client.request(
            "meraki", json.dumps(MERAKI | {"secret": "\ud800"}).encode()
        )
        deep_meraki = await ingest_client.request("meraki", DEEP)
        deep_gj = await ingest_client.request(gj_cfg.id, DEEP, content_type="application/json")
    assert surrogate.status == 403  # a wrong secret, not a 500
    assert deep_meraki.status == 400 and b"nested too deeply" in deep_meraki.body
    assert deep_gj.status == 400 and b"nested too deeply" in deep_gj.body
    assert collector.events == []
