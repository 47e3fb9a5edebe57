"""The sans-io parser targets of bench/fuzz.py, with their seeds.

Each :class:`Target` takes one input (bytes) through a bundled plugin's protocol
code the way its source does (decode, then parse, then derive), and may raise
only the documented error (:class:`hub.MalformedInput` and its subclasses).
Seeds come from ``/work/shared/samples``, the plugins' test fixtures and the
conformance cases.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from hub.errors import MalformedInput
from hub.quality import EARLIEST, LATEST, MAX_COUNT

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path("/work/shared/samples")
FIX = ROOT / "tests" / "plugins"
CASES = ROOT / "tests" / "conformance_cases"
DOCUMENTED: tuple[type[BaseException], ...] = (MalformedInput,)
"""What a parser may raise (the subclasses, e.g. generic_json's ExpressionFailed, included)."""
RECEIVED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Target:
    name: str
    seeds: list[bytes]
    run: Callable[[bytes], Any]


def read_hex(path: Path) -> bytes:
    """A hex dump with ``#`` comments (the fixtures' format)."""
    text = "".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
    return bytes.fromhex(re.sub(r"[^0-9A-Fa-f]", "", text))


def _files(*patterns: str) -> list[Path]:
    out: list[Path] = []
    for pattern in patterns:
        base = SAMPLES if pattern.startswith("samples/") else FIX
        out.extend(sorted(base.glob(pattern.removeprefix("samples/"))))
    return out


def _bytes(*patterns: str) -> list[bytes]:
    return [p.read_bytes() for p in _files(*patterns)]


def _case_payloads(kind: str, transport: str | None = None) -> list[bytes]:
    from hub.testing.conformance import load_cases

    folder = CASES / kind
    if not folder.is_dir():
        return []
    return [
        i.payload
        for c in load_cases(folder)
        if transport is None or c.transport == transport
        for i in c.inputs
        if i.payload is not None
    ]


# -- impossible values in what a parser returned -----------------------------------------


def impossible(value: Any, path: str = "result", depth: int = 0) -> str | None:
    """A count beyond a 64-bit integer, a non-finite number or a time outside
    [2000, 2100) in a parser's result (its dataclasses, lists and tuples; dicts are
    the vendor's raw document, passed through for the source to read), or None."""
    if depth > 20:
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return f"{path} = {value} does not fit a 64-bit count" if abs(value) > MAX_COUNT else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value}"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        ok = EARLIEST <= aware < LATEST
        return None if ok else f"{path} = {value.isoformat()} is outside [2000, 2100)"
    if is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            found = impossible(getattr(value, f.name), f"{path}.{f.name}", depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value[:50]):
            found = impossible(v, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


# -- targets -----------------------------------------------------------------------------


def _paxcounter(encoding: str) -> Target:
    from hub.plugins.wifi_counter.protocol import decode_payload

    seeds = [bytes([1]) + read_hex(p) for p in _files("samples/paxcounter_packed_port1.hex")]
    seeds += [bytes([2]) + read_hex(p) for p in _files("samples/paxcounter_*port2*.hex")]
    seeds += [bytes([4]) + read_hex(p) for p in _files("samples/paxcounter_*port4*.hex")]
    seeds += [bytes([1]) + read_hex(p) for p in _files("samples/paxcounter_plain_port1.hex")]

    def run(data: bytes) -> Any:
        if not data:
            raise MalformedInput("empty")
        return decode_payload(data[0] % 12, data[1:], encoding)  # type: ignore[arg-type]

    return Target(f"paxcounter_{encoding}", seeds, run)


def _paxcounter_mqtt() -> Target:
    from hub.plugins.wifi_counter.protocol import decode_base64_body, decode_payload

    seeds = [
        b"BwADAA==",
        b"DAABAA==",
        b"BwA=",
        b"LwEAAAAAAAA=",
        *_case_payloads("wifi_counter", "mqtt"),
    ]

    def run(data: bytes) -> Any:
        return decode_payload(1, decode_base64_body(data), "packed")

    return Target("paxcounter_mqtt_body", seeds, run)


def _paxcounter_spi() -> Target:
    from hub.plugins.wifi_counter.protocol import SpiFrameDecoder

    seeds = [read_hex(p) for p in _files("wifi_counter/fixtures/paxcounter_spi_stream.hex")]

    def run(data: bytes) -> Any:
        dec = SpiFrameDecoder("auto")
        cut = len(data) // 3
        return [*dec.feed(data[:cut]), *dec.feed(data[cut:])]

    return Target("paxcounter_spi", seeds, run)


def _ttn() -> Target:
    from hub.plugins.wifi_counter.protocol import decode_payload
    from hub.plugins.wifi_counter.ttn import decoded_reading, parse_ttn_uplink

    seeds = _bytes("samples/ttn_v3_*.json", "wifi_counter/fixtures/ttn_v3_*.json")
    seeds += _case_payloads("wifi_counter", "mqtt")

    def run(data: bytes) -> Any:
        up = parse_ttn_uplink(data, "v3/app@ttn/devices/pax-1/up")
        reading = decoded_reading(up.f_port, up.decoded) if up.decoded is not None else None
        if reading is None and up.f_port:
            reading = decode_payload(up.f_port, up.payload, "packed")
        return up, reading

    return Target("ttn_uplink", seeds, run)


def _meraki() -> Target:
    from hub.plugins.wifi_counter.meraki import MerakiCounter, ZoneMapper, secret_matches
    from hub.transports import IngestRequest

    seeds = _bytes("wifi_counter/fixtures/meraki_*.json")
    counter = MerakiCounter(ZoneMapper(default_zone="hall"))
    secrets = {json.loads(s).get("secret", "") for s in seeds}
    secret = next(iter(secrets - {""}), "s3cret")
    posts = 0

    def run(data: bytes) -> Any:
        body = IngestRequest("POST", "/ingest/m", {}, {}, data, "application/json").json()
        if not isinstance(body, dict) or not secret_matches(body.get("secret"), secret):
            raise MalformedInput("wrong secret")
        nonlocal posts
        posts += 1
        result = counter.add(body, RECEIVED)
        if posts % 50 == 0:
            return result, counter.close_due(RECEIVED + timedelta(minutes=10))
        return result

    return Target("meraki", seeds, run)


def _tfluna(fmt: str) -> Target:
    from hub.plugins.lidar.protocol import TfDecoder

    if fmt == "pix":
        seeds = _bytes("lidar/fixtures/tfluna_pix.txt")
    else:
        seeds = [read_hex(p) for p in _files("lidar/fixtures/tfmini*frames.hex")]

    def run(data: bytes) -> Any:
        dec = TfDecoder(fmt=fmt)  # type: ignore[arg-type]
        cut = len(data) // 2
        return [*dec.feed(data[:cut]), *dec.feed(data[cut:])]

    return Target(f"tfluna_{fmt}", seeds, run)


def _rplidar() -> Target:
    from hub.plugins.lidar.protocol import RplidarDecoder
    from hub.plugins.lidar.scan import RevolutionAssembler

    seeds = [read_hex(p) for p in _files("lidar/fixtures/rplidar_a1_*.hex")]

    def run(data: bytes) -> Any:
        dec, revs = RplidarDecoder(), RevolutionAssembler()
        cut = len(data) // 3
        items = [*dec.feed(data[:cut]), *dec.feed(data[cut:])]
        for item in items:
            if type(item).__name__ == "ScanNode":
                revs.add(item)  # type: ignore[arg-type]
        return items

    return Target("rplidar", seeds, run)


def _xovis() -> Target:
    from hub.plugins.lidar.xovis import parse_push
    from hub.transports import IngestRequest

    seeds = _bytes("samples/xovis_push_logics.json", "lidar/fixtures/xovis_push_*.json")
    seeds += _case_payloads("xovis")

    def run(data: bytes) -> Any:
        return parse_push(IngestRequest("POST", "/", {}, {}, data, "application/json").json())

    return Target("xovis", seeds, run)


def _axis() -> Target:
    from hub.plugins.camera_aggregate.protocol import (
        axis_crossline,
        axis_occupancy,
        axis_shape,
        parse_axis,
    )

    lines = (FIX / "camera_aggregate/fixtures/axis_aoa_crossline_sequence.jsonl").read_text()
    seeds = [json.dumps(json.loads(line)["payload"]).encode() for line in lines.splitlines()]
    seeds += _bytes("camera_aggregate/fixtures/axis_aoa_*.json", "samples/axis_aoa_*.json")
    topic = "axis/B8A44F941234/event/CameraApplicationPlatform/ObjectAnalytics/Device1Scenario3"

    def run(data: bytes) -> Any:
        msg = parse_axis(topic, data)
        shape = axis_shape(msg)
        if shape == "crossline":
            return axis_crossline(msg)
        if shape == "occupancy":
            return axis_occupancy(msg, ["human"])
        return msg

    return Target("axis", seeds, run)


def _hikvision() -> Target:
    from hub.plugins.camera_aggregate.hikvision import parse_body

    xml = _bytes("camera_aggregate/fixtures/hikvision_*.xml", "samples/hikvision_*.xml")
    multipart = _bytes("camera_aggregate/fixtures/hikvision_multipart_*.bin")
    tz = ZoneInfo("Europe/Amsterdam")

    def run(data: bytes) -> Any:
        ctype = "multipart/form-data" if data.startswith(b"--") else "application/xml"
        return parse_body(data, ctype, tz)

    return Target("hikvision", xml + multipart, run)


def _vivotek() -> Target:
    from hub.plugins.camera_aggregate.protocol import parse_vivotek
    from hub.transports import IngestRequest

    seeds = _bytes("camera_aggregate/fixtures/vivotek_*.json")

    def run(data: bytes) -> Any:
        doc = IngestRequest("POST", "/", {}, {}, data, "application/json").json()
        return parse_vivotek(doc, ZoneInfo("Europe/Amsterdam"))

    return Target("vivotek", seeds, run)


def _generic_json() -> Iterator[Target]:
    from hub.plugins.generic_json.config import GenericJsonConfig
    from hub.plugins.generic_json.protocol import Mapper
    from hub.testing.conformance import load_cases

    for case in load_cases(CASES / "generic_json"):
        cfg = GenericJsonConfig.model_validate(case.config)
        mapper = Mapper(
            cfg,
            tz=ZoneInfo(cfg.timezone or case.site.timezone),
            lines=[ln.id for ln in case.site.lines],
            zones=[z.id for z in case.site.zones],
        )
        seeds = [i.payload for i in case.inputs if i.payload is not None]

        def run(data: bytes, mapper: Mapper = mapper) -> Any:
            result = mapper.map_payload(data, received_at=RECEIVED, stream="s")
            try:
                return [r.to_measurement() for r in result.readings], result
            except ValidationError as err:  # the source counts it: "rejected by the schema"
                raise MalformedInput(f"reading rejected by the event schema: {err}") from None

        yield Target(f"generic_json[{case.name}]", seeds, run)


def parser_targets() -> list[Target]:
    """Every sans-io parser target, in report order."""
    targets = [
        _paxcounter("packed"),
        _paxcounter("plain"),
        _paxcounter_mqtt(),
        _paxcounter_spi(),
        _ttn(),
        _meraki(),
        _tfluna("cm"),
        _tfluna("pix"),
        _rplidar(),
        _xovis(),
        _axis(),
        _hikvision(),
        _vivotek(),
        *_generic_json(),
    ]
    return [t for t in targets if t.seeds]
