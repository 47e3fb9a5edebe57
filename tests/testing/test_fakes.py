"""The public fakes behave like the transports they stand in for."""

from __future__ import annotations

import pytest

from hub.errors import DeviceUnavailable
from hub.testing.fakes import FakeSerialTransport, topic_matches
from hub.transports import SerialSettings


async def test_fake_serial_keeps_the_rest_of_a_long_chunk() -> None:
    serial = FakeSerialTransport()
    serial.feed(bytes(range(256)) * 40)  # 10,240 bytes in one chunk
    got = b""
    async with serial.open(SerialSettings(port="/dev/fake")) as port:
        serial.unplug()  # queued after the data: read everything, then the unplug
        with pytest.raises(DeviceUnavailable):
            while True:
                got += await port.read(4096)
    assert got == bytes(range(256)) * 40


@pytest.mark.parametrize(
    ("flt", "topic", "match"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/#", "a/b/c", True),
        ("a/+", "a/b/c", False),
        ("$share/g/a/#", "a/x", True),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_matching(flt: str, topic: str, match: bool) -> None:
    assert topic_matches(flt, topic) is match
