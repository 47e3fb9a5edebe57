"""Which asyncio MQTT client can carry the hub: relay cost per message, same broker, same load.

    .venv/bin/python bench/client_bench.py [--n 50000] [--qos 0]

A relay process subscribes to ``sensors/#`` and republishes every message to
``out/x`` (no parsing: the client's own cost). A raw publisher floods the
broker; a raw subscriber counts what comes out. The relay's CPU time (user +
system) from its first to its last message, per message, is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wire

PAYLOAD = b'{"sensor":"s17","zone":"z3","seq":123456,"count":17,"battery":3712,"fw":"2.4.1"}'


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def relay_aiomqtt(port: int, n: int, qos: int) -> tuple[float, float]:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as c:
        await c.subscribe("sensors/#", qos=qos)
        print("ready", flush=True)
        i, t0, w0 = 0, 0.0, 0.0
        async for m in c.messages:
            if i == 0:
                t0, w0 = cpu(), time.perf_counter()
            await c.publish("out/x", m.payload, qos=qos)
            i += 1
            if i == n:
                return cpu() - t0, time.perf_counter() - w0
    raise AssertionError("unreachable")


async def relay_gmqtt(port: int, n: int, qos: int) -> tuple[float, float]:
    import gmqtt

    done = asyncio.Event()
    state = {"i": 0, "t0": 0.0, "w0": 0.0}

    def on_message(client: gmqtt.Client, topic: str, payload: bytes, q: int, props: object) -> int:
        if state["i"] == 0:
            state["t0"], state["w0"] = cpu(), time.perf_counter()
        client.publish("out/x", payload, qos=qos)
        state["i"] += 1
        if state["i"] == n:
            done.set()
        return 0

    c = gmqtt.Client("relay")
    c.on_message = on_message
    await c.connect("127.0.0.1", port, version=4)
    c.subscribe("sensors/#", qos=qos)
    await asyncio.sleep(0.5)  # no SUBACK to await in gmqtt's API
    print("ready", flush=True)
    await done.wait()
    result = cpu() - state["t0"], time.perf_counter() - state["w0"]
    await c.disconnect()
    return result


async def relay_hub(port: int, n: int, qos: int) -> tuple[float, float]:
    import logging

    from hub.clock import SystemClock
    from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
    from hub.plugin import TransportContext

    ctx = TransportContext("bench", "mqtt", SystemClock(), logging.getLogger("bench"))
    t = MqttTransport(MqttTransportConfig(port=port, protocol="3.1.1"), ctx)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(t.run())
        async with t.subscribe(["sensors/#"], qos=qos) as messages:
            print("ready", flush=True)
            i, t0, w0 = 0, 0.0, 0.0
            async for m in messages:
                if i == 0:
                    t0, w0 = cpu(), time.perf_counter()
                await t.publish("out/x", m.payload, qos=qos)
                i += 1
                if i == n:
                    break
        result = cpu() - t0, time.perf_counter() - w0
        task.cancel()
    return result


RELAYS = {"aiomqtt": relay_aiomqtt, "gmqtt": relay_gmqtt, "hub": relay_hub}


def compare(clients: list[str], n: int, qos: int) -> dict[str, dict[str, float]]:
    from hub.testing.mosquitto import Mosquitto

    out = {}
    with Mosquitto(extra_config=["max_queued_messages 0", "set_tcp_nodelay true"]) as broker:
        for name in clients:
            sub = wire.connect(broker.host, broker.port, "count")
            wire.subscribe(sub, ["out/#"], qos)
            got = [0]

            def count(sub=sub, got=got) -> None:
                reader = wire.Reader()
                sub.settimeout(30)
                while got[0] < n:
                    data = sub.recv(1 << 20)
                    if not data:
                        return
                    acks = []
                    for first, body in reader.feed(data):
                        if first >> 4 == wire.PUBLISH:
                            got[0] += 1
                            if qos:
                                tl = (body[0] << 8) | body[1]
                                acks.append(wire.puback((body[2 + tl] << 8) | body[3 + tl]))
                    if acks:
                        sub.sendall(b"".join(acks))

            counter = threading.Thread(target=count)
            counter.start()
            relay = subprocess.Popen(
                [sys.executable, __file__, "_relay", name, str(broker.port), str(n), str(qos)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
            pub = wire.connect(broker.host, broker.port, "flood")
            reader, unacked = wire.Reader(), 0
            for start in range(0, n, 100):
                chunk = [
                    wire.publish(b"sensors/s1/raw", PAYLOAD, qos, j % 65535 + 1)
                    for j in range(start, min(n, start + 100))
                ]
                pub.sendall(b"".join(chunk))
                unacked += len(chunk) if qos else 0
                while unacked > 2000:
                    unacked -= sum(f >> 4 == wire.PUBACK for f, _ in reader.feed(pub.recv(65536)))
            cpu_s, wall_s = json.loads(relay.communicate(timeout=300)[0].splitlines()[-1])
            counter.join(30)
            wire.disconnect(pub)
            wire.disconnect(sub)
            out[name] = {
                "cpu_us_per_msg": cpu_s / n * 1e6,
                "msg_per_s": n / wall_s,
                "delivered": got[0],
            }
            print(f"{name:8s} {out[name]}", file=sys.stderr)
    return out


def main() -> None:
    if sys.argv[1:2] == ["_relay"]:
        name, port, n, qos = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(asyncio.run(RELAYS[name](port, n, qos))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--qos", type=int, choices=[0, 1], default=0)
    p.add_argument("--clients", default="hub,gmqtt,aiomqtt")
    args = p.parse_args()
    result = compare(args.clients.split(","), args.n, args.qos)
    print("| client | relay CPU µs/msg | relay msg/s | delivered |")
    print("| --- | --- | --- | --- |")
    for name, r in result.items():
        print(f"| {name} | {r['cpu_us_per_msg']:.1f} | {r['msg_per_s']:,.0f} | {r['delivered']} |")


if __name__ == "__main__":
    main()
