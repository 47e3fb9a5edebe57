"""XML that can't hurt: DTDs, entity expansion and external entities are refused in every
encoding, an encoding the hub cannot read is a precise 400, and a clean UTF-16 alert is
still read. Through the parser, and through the hub's real aiohttp ingest server on
127.0.0.1 with a real HTTP client (the ``ingest_client`` fixture)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from hub.errors import MalformedInput
from hub.plugin import Transport
from hub.plugins.camera_aggregate.hikvision import parse_alert
from hub.plugins.camera_aggregate.safexml import parse_xml
from hub.testing.pytest_plugin import IngestClient

from .conftest import FIX, running, wait_until, xing

USER, PASSWORD = "hik", "pa55-word"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}

_ALERT = (
    '<EventNotificationAlert version="1.0" xmlns="urn:psialliance-org">'
    "<channelID>1</channelID><eventType>PeopleCounting</eventType>"
    "<peopleCounting><statisticalMethods>realTime</statisticalMethods>"
    "<RealTime><time>2020-07-09T12:07:07+08:00</time></RealTime>"
    "<enter>{enter}</enter><exit>0</exit></peopleCounting></EventNotificationAlert>"
)


def _billion_laughs() -> str:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return f"<!DOCTYPE lolz [{''.join(ents)}]>" + _ALERT.format(enter="&lol9;")


PAYLOADS = {
    "billion_laughs": _billion_laughs(),
    "external_entity": '<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    + _ALERT.format(enter="&xxe;"),
    "external_dtd": '<!DOCTYPE EventNotificationAlert SYSTEM "http://127.0.0.1:9/evil.dtd">'
    + _ALERT.format(enter="1"),
    "parameter_entity": '<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>'
    + _ALERT.format(enter="1"),
}
ENCODINGS = {"utf-8": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16"}


def _encode(body: str, codec: str) -> bytes:
    """The document with an XML declaration naming its encoding. ``utf-16`` writes a BOM;
    ``utf-16-le``/``-be`` do not (expat detects them from the first ``<``)."""
    return f'<?xml version="1.0" encoding="{ENCODINGS[codec]}"?>\n{body}'.encode(codec)


@pytest.mark.parametrize("codec", sorted(ENCODINGS))
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_declarations_are_refused_in_every_encoding(name: str, codec: str) -> None:
    data = _encode(PAYLOADS[name], codec)
    t0 = time.perf_counter()
    with pytest.raises(MalformedInput, match=r"DOCTYPE \(DTD\) is refused") as err:
        parse_alert(data)
    assert time.perf_counter() - t0 < 1.0  # refused at the declaration: nothing expanded
    assert "passwd" not in str(err.value) and "lol" not in str(err.value)


def test_an_entity_declared_elsewhere_is_never_expanded() -> None:
    # without a DTD an entity reference is undefined: a syntax error, never an expansion
    with pytest.raises(MalformedInput, match="undefined entity"):
        parse_alert(_encode(_ALERT.format(enter="&xxe;"), "utf-16"))


@pytest.mark.parametrize("encoding", ["x-no-such-codec", "shift_jis", "utf-32", "cp500"])
def test_an_encoding_the_hub_cannot_read_is_a_precise_error(encoding: str) -> None:
    data = f'<?xml version="1.0" encoding="{encoding}"?>{_ALERT.format(enter=1)}'.encode()
    with pytest.raises(MalformedInput, match=f"declares an encoding '{encoding}' the hub cannot"):
        parse_alert(data)


@pytest.mark.parametrize("codec", sorted(ENCODINGS))
def test_a_clean_alert_is_read_in_every_encoding(codec: str) -> None:
    alert = parse_alert(_encode(_ALERT.format(enter=7), codec))
    assert alert.counting is not None and alert.counting.enter == 7
    assert alert.namespace == "1.0"


def test_namespaced_attributes_and_text_survive() -> None:
    root = parse_xml(b'<a xmlns="urn:x" xmlns:p="urn:p" p:k="v">t<b>u</b></a>', "doc")
    assert root.tag == "{urn:x}a" and root.get("{urn:p}k") == "v"
    assert root.text == "t" and root[0].tag == "{urn:x}b" and root[0].text == "u"


_TIMERANGE_UTF16 = (
    (FIX / "hikvision_isapi_peoplecounting_timerange.xml")
    .read_text()
    .replace('encoding="UTF-8"', 'encoding="UTF-16"')
    .replace("<enter>0</enter>", "<enter>3</enter>")
    .replace("<exit>0</exit>", "<exit>2</exit>")
    .encode("utf-16")
)


def _http(client: IngestClient) -> Any:
    def lookup(kind: str, instance: str | None) -> Transport[Any]:
        assert kind == "http"
        return client.server  # type: ignore[no-any-return]

    return lookup


async def test_hostile_xml_pushed_over_real_http_is_answered_400(
    ingest_client: IngestClient,
) -> None:
    cfg = {
        "id": "hik-gate",
        "device": "hikvision",
        "auth": {"scheme": "basic", "username": USER, "password": PASSWORD},
        "channels": [{"channel": 1, "line": "gate-b"}],
    }
    hostile = [
        (f"{name}/{codec}", _encode(PAYLOADS[name], codec))
        for name in sorted(PAYLOADS)
        for codec in ("utf-8", "utf-16")
    ]
    unknown = b'<?xml version="1.0" encoding="x-no-such-codec"?>' + _ALERT.format(enter=1).encode(
        "ascii"
    )
    async with running(cfg, _http(ingest_client)) as (src, out):
        await wait_until(lambda: "hik-gate" in ingest_client.server.health()["routes"])
        answers = {}
        for label, body in hostile:
            answers[label] = await ingest_client.request(
                "hik-gate", body, content_type="application/xml", headers=BASIC
            )
        bad_enc = await ingest_client.request(
            "hik-gate", unknown, content_type="text/xml", headers=BASIC
        )
        clean = await ingest_client.request(
            "hik-gate", _TIMERANGE_UTF16, content_type="application/xml", headers=BASIC
        )
        events = list(out.events)
    for label, resp in answers.items():
        assert resp.status == 400, label
        assert b"DOCTYPE (DTD) is refused" in resp.body, label
        assert b"entity expansion" in resp.body, label
    assert bad_enc.status == 400
    assert b"encoding 'x-no-such-codec' the hub cannot read" in bad_enc.body
    assert clean.status == 200
    # only the clean UTF-16 bin became an event: nothing of the hostile ones leaked in
    assert [(e.line, xing(e).in_, xing(e).out) for e in events] == [("gate-b", 3, 2)]
    assert all("lol" not in e.model_dump_json() for e in events)
    assert src.ctx.counters.malformed == len(hostile) + 1


def test_the_recorded_doctype_fixture_is_refused() -> None:
    with pytest.raises(MalformedInput, match="DOCTYPE"):
        parse_alert((FIX / "hikvision_doctype_entities.xml").read_bytes())
