"""Configuration of the ``wifi_counter`` source (``[[sources.wifi_counter]]``).

``device`` selects the hardware, ``input`` the path for a Paxcounter:

* ``device = "paxcounter"``, ``input = "mqtt"``: the device's own MQTT client
  (``paxout/<port>``, base64 bodies);
* ``device = "paxcounter"``, ``input = "ttn"``: The Things Stack v3 MQTT
  integration (uplink JSON);
* ``device = "paxcounter"``, ``input = "serial"``: SPI-slave frames relayed by a
  serial bridge;
* ``device = "meraki"``: Cisco Meraki Scanning API v2/v3 pushed to
  ``POST /ingest/<id>`` on the hub's HTTP server.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

import hub
from hub.site import ID_PATTERN
from hub.transports import HttpAuth, SerialSettings

_ZONE = re.compile(ID_PATTERN)


class WifiCounterConfig(hub.SourceConfig):
    """``[[sources.wifi_counter]]``: one Paxcounter, or one Meraki Scanning API receiver."""

    device: Literal["paxcounter", "meraki"] = Field(
        default="paxcounter",
        description="paxcounter (ESP32-Paxcounter) | meraki (Cisco Meraki Scanning API push)",
    )

    # -- paxcounter ---------------------------------------------------------------------
    input: Literal["mqtt", "ttn", "serial"] = Field(
        default="mqtt",
        description="paxcounter path: mqtt (device's paxout/<port> topics) | ttn (The Things "
        "Stack v3 uplinks) | serial (SPI-slave frames via a serial bridge)",
    )
    encoding: Literal["packed", "plain"] = Field(
        default="packed",
        description="device PAYLOAD_ENCODER: packed (2, little-endian, the default) | "
        "plain (1, big-endian)",
    )
    cycle_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="device send cycle (s): each count covers [t - cycle_s, t]",
    )
    counter_mode: Literal["cyclic", "cumulative"] = Field(
        default="cyclic",
        description="device counter mode: cyclic (reset every cycle, the default) | "
        "cumulative (totals since start, turned into per-cycle deltas)",
    )
    max_count: int | None = Field(
        default=10_000,
        ge=0,
        description="counts above this are marked suspect (above_maximum); empty: no limit",
    )
    max_jump: int | None = Field(
        default=2_000,
        ge=0,
        description="a change larger than this from the last plausible count is marked "
        "suspect (implausible_jump); empty: no limit",
    )
    include_device_location: bool = Field(
        default=False,
        description="put the Paxcounter's own GPS fix (device, not people) into event extras",
    )
    broker: str | None = Field(
        default=None, description="mqtt/ttn: id of the [[transports.mqtt]] connection"
    )
    qos: Literal[0, 1, 2] = Field(default=0, description="mqtt/ttn: subscription QoS")
    mqtt_prefix: str = Field(
        default="paxout",
        min_length=1,
        description="mqtt: MQTT_OUTTOPIC of the device; payloads arrive on <prefix>/<port>",
    )
    ttn_application: str | None = Field(
        default=None, description="ttn: application id (topic v3/<app>@<tenant>/devices/...)"
    )
    ttn_tenant: str | None = Field(
        default="ttn",
        description="ttn: tenant id ('ttn' on The Things Network); empty for single-tenant "
        "deployments whose topics are v3/<app>/devices/...",
    )
    ttn_device: str = Field(
        default="+", description="ttn: device id to follow, '+' for every device of the app"
    )
    ttn_topic: str | None = Field(
        default=None, description="ttn: full topic filter, overrides the three fields above"
    )
    ttn_payload: Literal["auto", "frm_payload", "decoded"] = Field(
        default="auto",
        description="ttn: auto (decoded_payload when it has the Paxcounter fields, else "
        "decode frm_payload) | frm_payload (always decode bytes) | decoded (formatter only)",
    )
    serial: SerialSettings | None = Field(
        default=None, description="serial: port of the SPI-to-serial bridge"
    )
    spi_crc: Literal["auto", "genibus", "ignore"] = Field(
        default="auto",
        description="serial: CRC-16 check of SPI frames: genibus (ESP32 ROM crc16_be, big-"
        "endian) | auto (also little-endian and XMODEM/CCITT-FALSE) | ignore (firmware that "
        "leaves the CRC field 0)",
    )

    # -- meraki -------------------------------------------------------------------------
    validator: str | None = Field(
        default=None, description="meraki: validator string shown in the Meraki dashboard"
    )
    secret: SecretStr | None = Field(
        default=None,
        description='meraki: shared secret set in the dashboard (use "${MERAKI_SECRET}"); '
        "while it is empty the source refuses to start (authentication failed)",
    )
    interval_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="meraki: counting interval (s); distinct devices are counted per interval "
        "of observation, each interval with its own hashing key, dropped when it closes",
    )
    late_grace_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="meraki: an interval's counts go out this long after it ends, so that "
        "observations the cloud pushes late (about once a minute) still count in the interval "
        "they were made in; later ones are counted as late_observations in hub status",
    )
    max_observation_age_s: float = Field(
        default=180.0,
        gt=0,
        le=86_400,
        description="meraki: observations (seenTime/seenEpoch, v3 latestRecord.time) more than "
        "this older than the hub clock are not counted as current (stale_observations in hub "
        "status); as far ahead of it: future_observations",
    )
    ap_zones: dict[str, str] = Field(
        default_factory=dict,
        description="meraki: access point MAC -> site zone",
    )
    tag_zones: dict[str, str] = Field(
        default_factory=dict, description="meraki: access point tag -> site zone"
    )
    floor_zones: dict[str, str] = Field(
        default_factory=dict,
        description="meraki: floor plan name or id -> site zone",
    )
    auth: HttpAuth = Field(
        default=HttpAuth(scheme="none"),
        description="meraki: HTTP auth of the POSTs; 'none' by default because Meraki "
        "authenticates with the 'secret' in the body",
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="meraki: largest accepted POST body (v3 posts one body per network)",
    )

    def site_refs(self) -> list[tuple[str, str]]:
        """Zones the Meraki mappings refer to, checked against ``[site]`` at load time."""
        targets = {*self.ap_zones.values(), *self.tag_zones.values(), *self.floor_zones.values()}
        return [("zone", z) for z in sorted(targets)]

    @field_validator("ap_zones", "tag_zones", "floor_zones")
    @classmethod
    def _zone_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            if not _ZONE.match(zone):
                raise ValueError("zone ids are short slugs: letters, digits, _.:-")
        return value

    @model_validator(mode="after")
    def _check_device(self) -> Self:
        if self.device == "meraki":
            if not self.validator:
                raise ValueError("device 'meraki' needs 'validator' (from the Meraki dashboard)")
            if self.secret is None:
                raise ValueError("device 'meraki' needs 'secret' (use \"${MERAKI_SECRET}\")")
            if not (self.ap_zones or self.tag_zones or self.floor_zones or self.zone):
                raise ValueError(
                    "device 'meraki' needs a zone: set 'zone' and/or ap_zones, tag_zones, "
                    "floor_zones"
                )
            return self
        if self.input == "serial" and self.serial is None:
            raise ValueError("input 'serial' needs 'serial = {port = \"/dev/ttyUSB0\"}'")
        if self.input == "ttn" and not (self.ttn_application or self.ttn_topic):
            raise ValueError("input 'ttn' needs 'ttn_application' (or 'ttn_topic')")
        return self
