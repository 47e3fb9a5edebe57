"""The transports a simulated device sends over: MQTT, HTTP push and a pseudo-terminal.

Each link is an async context manager around the hub's own transport code (the
MQTT client of :mod:`hub.core.transports.mqtt`, the HTTP client of
:mod:`hub.core.transports.http_client`) or :class:`hub.simulate.pty.PtyDevice`,
so a simulator speaks to a hub exactly as a device on the wire would. A link
never raises for a peer that is away: it says so once (through ``say``) and the
simulator goes on, as a device would.
"""

from __future__ import annotations

__all__ = ["HttpLink", "MqttLink", "PtyLink", "Say", "parse_hostport"]

import asyncio
import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from hub.clock import SystemClock
from hub.errors import AuthenticationFailed, DeviceUnavailable, TransportError
from hub.plugin import TransportContext
from hub.simulate.pty import PtyDevice
from hub.transports import HttpAuth

Say = Callable[[str], None]
"""Where a simulator's one-line reports go (stdout for ``hub simulate``, a log in the demo)."""

log = logging.getLogger("hub.simulate")


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port or (host.count(":") and not host.startswith("[")):
        return text.strip("[]"), default_port
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise ValueError(f"{text!r} is not host:port") from None


_link_log = logging.getLogger("hub.simulate.link")
_link_log.setLevel(logging.ERROR)  # what the device's own link logs is said through ``say``


def _ctx(kind: str) -> TransportContext:
    return TransportContext(instance="simulator", kind=kind, clock=SystemClock(), log=_link_log)


class _Once:
    """Say a problem once until it is gone, then say that it is gone."""

    def __init__(self, say: Say, what: str) -> None:
        self.say, self.what, self.down = say, what, False

    def failed(self, why: str) -> None:
        if not self.down:
            self.down = True
            self.say(f"{self.what}: {why}; still trying")

    def ok(self) -> None:
        if self.down:
            self.down = False
            self.say(f"{self.what}: reachable again")


class MqttLink:
    """A device's MQTT client connection (MQTT 3.1.1 like most devices), reconnecting."""

    def __init__(
        self,
        broker: str,
        say: Say,
        *,
        username: str | None = None,
        password: str | None = None,
        protocol: str = "3.1.1",
        name: str = "device",
    ) -> None:
        from hub.core.transports.mqtt import MqttTransportConfig

        host, port = parse_hostport(broker, 1883)
        self.config = MqttTransportConfig.model_validate(
            {
                "host": host,
                "port": port,
                "protocol": protocol,
                "client_id": f"sim-{name}-{secrets.token_hex(3)}",
                "clean_start": True,  # a throwaway id: no session for the broker to keep
                "username": username,
                "password": password,
                "reconnect_initial_s": 0.2,
                "reconnect_max_s": 5.0,
                "connect_timeout_s": 5.0,
            }
        )
        self.where = f"broker {host}:{port}"
        self._state = _Once(say, f"{name}: {self.where}")
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self._tg: asyncio.TaskGroup | None = None

    def _start(self) -> None:
        from hub.core.transports.mqtt import MqttTransport

        assert self._tg is not None
        self._client = MqttTransport(self.config, _ctx("mqtt"))
        self._task = self._tg.create_task(self._client.run(), name="simulator:mqtt-client")

    async def __aenter__(self) -> MqttLink:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()
        assert self._tg is not None
        await self._tg.__aexit__(t, e, tb)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def reconnect(self) -> None:
        """Drop the connection and open a new one (a device losing its network)."""
        await self._stop()
        self._start()

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> bool:
        """Publish; False (and said once) when the broker cannot be reached."""
        try:
            await self._client.publish(topic, payload, qos=qos)
        except (DeviceUnavailable, AuthenticationFailed, TransportError) as err:
            self._state.failed(_reason(err))
            return False
        self._state.ok()
        return True


def _reason(err: Exception) -> str:
    text = str(err)
    return text.split(": ", 1)[1] if ": " in text else text


class HttpLink:
    """A device pushing over HTTP (the hub's HTTP client)."""

    def __init__(self, url: str, say: Say, *, auth: HttpAuth | None = None, name: str = "device"):
        from hub.core.transports.http_client import HttpClientConfig, HttpClientTransport

        self.url = url
        self.auth = auth
        self._client = HttpClientTransport(HttpClientConfig(connect_timeout_s=5.0), _ctx("http"))
        self._state = _Once(say, f"{name}: {url}")

    async def __aenter__(self) -> HttpLink:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.__aexit__(t, e, tb)

    async def post(self, body: bytes, content_type: str, *, method: str = "POST") -> int | None:
        """Send one push; the HTTP status, or None (said once) when the hub is unreachable."""
        try:
            resp = await self._client.request(
                method,
                self.url,
                body=body,
                headers={"Content-Type": content_type} if body else {},
                auth=self.auth,
                timeout_s=10.0,
            )
        except (DeviceUnavailable, TransportError) as err:
            self._state.failed(_reason(err))
            return None
        self._state.ok()
        return resp.status


def default_link(name: str) -> Path:
    """Where a pty's stable path goes unless ``--link`` says otherwise."""
    return Path(tempfile.gettempdir()) / f"crowdhub-{name}"


class PtyLink:
    """A serial device on a pseudo-terminal behind a stable symlink (``path``).

    Bytes the device sends while nobody reads the port are dropped once the pty's
    buffer is full, as a real sensor's UART keeps streaming into an unread port.
    """

    def __init__(self, path: str | os.PathLike[str], say: Say, name: str = "device") -> None:
        self.path = Path(path).absolute()
        if self.path.exists() and not self.path.is_symlink():
            raise ValueError(f"{self.path} exists and is not a symlink; choose another --link")
        self.say = say
        self.name = name
        self.dropped = 0
        self.device: PtyDevice | None = None

    def __enter__(self) -> PtyLink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.device = PtyDevice(self.path.parent, self.path.name)
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.device is not None:
            self.device.close()

    def _dev(self) -> PtyDevice:
        if self.device is None:
            raise RuntimeError("PtyLink used outside 'with'")
        return self.device

    def write(self, data: bytes) -> None:
        try:
            self._dev().write(data)
        except BlockingIOError:
            if not self.dropped:
                self.say(
                    f"{self.name}: nobody reads {self.path}; dropping bytes until it is opened"
                )
            self.dropped += len(data)

    def replug(self) -> None:
        """Unplug and plug in again (the hub sees the port vanish and come back)."""
        self._dev().replug()

    async def read(self, timeout_s: float) -> bytes:
        """What the hub wrote to the device (b"" when nothing came within ``timeout_s``)."""
        try:
            return await self._dev().read_written_async(1, timeout_s=timeout_s)
        except TimeoutError:
            return b""
