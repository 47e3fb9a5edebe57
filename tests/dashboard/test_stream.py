"""The live stream over a real connection: snapshot, changes, heartbeat, filtering, shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse

from tests.dashboard.conftest import Served


async def _events(r: ClientResponse, n: int, timeout: float = 5.0) -> list[tuple[str, Any]]:
    """The next ``n`` server-sent events (name, data)."""
    out: list[tuple[str, Any]] = []
    name = ""

    async def read() -> None:
        nonlocal name
        while len(out) < n:
            line = (await r.content.readline()).decode()
            if line == "":
                raise EOFError("stream ended")
            if line.startswith("event: "):
                name = line[7:].strip()
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))

    await asyncio.wait_for(read(), timeout)
    return out


async def _until(r: ClientResponse, pred: Any, limit: int = 200) -> tuple[str, Any]:
    for _ in range(limit):
        (ev,) = await _events(r, 1)
        if pred(ev):
            return ev
    raise AssertionError("the event never came")


async def test_snapshot_then_changes_then_heartbeats(served: Served) -> None:
    r = await served.client.get("/api/v1/stream", headers=served.auth("municipality"))
    assert r.headers["Content-Type"].startswith("text/event-stream")
    ((name, snap),) = await _events(r, 1)
    assert name == "snapshot"
    assert {z["id"] for z in snap["zones"]} == {"plein", "boulevard", "strand", "palace"}
    assert snap["heartbeat_s"] == 0.2
    served.surge()
    name, zone = await _until(r, lambda e: e[0] == "zone" and e[1]["id"] == "plein")
    assert zone["level"] == "red"
    await _until(r, lambda e: e[0] == "alert" and e[1]["rule"] == "level-red")
    await _until(r, lambda e: e[0] == "log" and e[1]["event"] == "fired")
    name, beat = await _until(r, lambda e: e[0] == "heartbeat")
    assert beat["now"].startswith("2026-08-14")
    r.close()


async def test_an_acknowledgement_reaches_another_view_at_once(served: Served) -> None:
    served.surge()
    r = await served.client.get("/api/v1/stream", headers=served.auth("organiser"))
    ((_, snap),) = await _events(r, 1)
    (alert,) = [a for a in snap["alerts"] if a["rule"] == "level-red"]
    assert alert["state"] == "firing"
    resp = await served.client.post(
        "/api/v1/acknowledge",
        json={"alert_id": alert["id"], "note": "stewards"},
        headers=served.auth("municipality"),
    )
    assert resp.status == 200
    # no tick in between: the action itself is announced
    _, acked = await _until(r, lambda e: e[0] == "alert")
    assert acked["state"] == "acknowledged" and acked["acked_by"] == "municipality"
    r.close()


async def test_a_restricted_stream_carries_nothing_of_other_zones(served: Served) -> None:
    r = await served.client.get("/api/v1/stream", headers=served.auth("organiser"))
    seen: list[str] = []
    for _ in range(4):
        served.feed(plein=7500, boulevard=6000, strand=20000, palace=7000)
        served.tick()
    resp = await served.client.post(
        "/api/v1/measure",
        json={"subject": "strand", "text": "strand afgesloten"},
        headers=served.auth("police"),
    )
    assert resp.status == 200
    served.feed(plein=100)
    served.tick()
    events = await _events(r, 1)
    beats = 0
    while beats < 3:  # everything queued before is sent before the third heartbeat
        events += await _events(r, 1)
        beats += events[-1][0] == "heartbeat"
    for name, data in events:
        seen.append(name)
        text = json.dumps(data)
        for other in ("boulevard", "strand", "palace", "Palaceplein", "afgesloten"):
            assert other not in text.replace("Scheveningen", ""), (name, other)
    assert "zone" in seen and "alert" in seen and "heartbeat" in seen
    r.close()


async def test_the_stream_ends_when_the_server_stops(served: Served) -> None:
    r = await served.client.get("/api/v1/stream", headers=served.auth("municipality"))
    await _events(r, 1)
    await served.client.server.close()
    try:
        await _events(r, 100, timeout=5)
    except EOFError:
        pass
    except Exception as e:  # the connection may also be cut mid-read
        assert "closed" in str(e).lower() or isinstance(e, ConnectionError), e
    else:
        raise AssertionError("the stream went on after the server stopped")


async def test_no_stream_without_a_token(served: Served) -> None:
    r = await served.client.get("/api/v1/stream")
    assert r.status == 401 and await r.text() == "unauthorized\n"
