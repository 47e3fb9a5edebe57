"""The typed transport accessors of SourceContext/SinkContext (ctx.mqtt, ctx.serial, ...)."""

from __future__ import annotations

import logging

import pytest

from hub.clock import SystemClock
from hub.core.transports.http_client import HttpClientConfig, HttpClientTransport
from hub.errors import TransportError
from hub.plugin import TransportContext
from hub.testing import sink_context, source_context
from hub.testing.fakes import (
    FakeHttpIngest,
    FakeMessageTransport,
    FakeSerialTransport,
    fake_transports,
)
from hub.transports import HttpClient, HttpIngest, MessageTransport, SerialTransport


def test_source_accessors_return_the_configured_transports() -> None:
    mqtt, serial, http = FakeMessageTransport(), FakeSerialTransport(), FakeHttpIngest()
    other = FakeMessageTransport()
    ctx = source_context(
        "wifi_counter",
        transports=fake_transports(mqtt={"default": mqtt, "site": other}, serial=serial, http=http),
    )
    assert ctx.mqtt() is mqtt
    assert ctx.mqtt("site") is other
    assert ctx.serial() is serial
    assert ctx.http_server() is http
    assert isinstance(ctx.mqtt(), MessageTransport)
    assert isinstance(ctx.serial(), SerialTransport)
    assert isinstance(ctx.http_server(), HttpIngest)
    # the untyped escape hatch still works
    assert ctx.transport("mqtt", "site") is other


def test_missing_instance_keeps_the_lookup_error() -> None:
    ctx = source_context(
        "wifi_counter", transports=fake_transports(mqtt={"a": FakeMessageTransport()})
    )
    with pytest.raises(TransportError, match="no fake mqtt transport 'b'"):
        ctx.mqtt("b")


def test_no_transports_at_all_names_the_instance() -> None:
    ctx = source_context("wifi_counter", "gate-a")
    with pytest.raises(TransportError, match=r"^wifi_counter\[gate-a\]: no transports available$"):
        ctx.serial()
    sctx = sink_context("mqtt", "out")
    with pytest.raises(TransportError, match=r"^mqtt\[out\]: no transports available$"):
        sctx.mqtt()


def test_wrong_kind_of_object_is_refused_with_one_line() -> None:
    # an object registered under "http_client" that only ingests: not an HttpClient
    ctx = source_context("poller", "p1", transports=fake_transports(http_client=FakeHttpIngest()))
    with pytest.raises(TransportError) as info:
        ctx.http_client()
    assert str(info.value) == (
        "poller[p1]: transport http_client[default] is a FakeHttpIngest, which does not "
        "implement hub.transports.HttpClient; register a transport of kind 'http_client' "
        "that does"
    )


def test_sink_accessors() -> None:
    mqtt = FakeMessageTransport()
    sctx = sink_context("mqtt", "out", transports=fake_transports(mqtt=mqtt))
    assert sctx.mqtt("any") is mqtt
    with pytest.raises(TransportError, match="no fake transport of kind 'http_client'"):
        sctx.http_client()


def test_real_transports_implement_their_protocols() -> None:
    client = HttpClientTransport(
        HttpClientConfig(),
        TransportContext(
            instance="default", kind="http_client", clock=SystemClock(), log=logging.getLogger("t")
        ),
    )
    sctx = sink_context("webhook", "w", transports=fake_transports(http_client=client))
    assert sctx.http_client() is client
    assert isinstance(client, HttpClient)
