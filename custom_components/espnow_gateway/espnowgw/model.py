"""The payload model: what a decoded ESP-NOW payload is made of.

Payload kinds and formats, measurements (sensor and binary-sensor readings), button
events and the result of decoding one frame. Every decoder produces these; nothing
here depends on a decoder, so the decoders and the format detection import this
module and never each other in a circle.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# BTHome's button event names, in BTHome's order: the vocabulary of every decoder.
BUTTON_EVENT_NAMES: Final = (
    "press",
    "double_press",
    "triple_press",
    "long_press",
    "long_double_press",
    "long_triple_press",
    "hold_press",
    "release",
    "hold_release",  # BTHome 0x81 (bthome-ble 3.25, Home Assistant 2026.11)
)


class PayloadKind(StrEnum):
    """What a payload turned out to be."""

    BTHOME = "bthome"
    JSON = "json"
    RAW = "raw"
    ESPHOME = "esphome"
    """ESPHome ``packet_transport`` (``platform: espnow``) frames."""
    ESPNOW_CTRL = "espnow_ctrl"
    """Espressif's ``esp-now`` component frames (20-byte header, ``espnow_ctrl``)."""


class PayloadFormat(StrEnum):
    """How a peer's payloads are to be decoded (a per-peer option)."""

    AUTO = "auto"
    BTHOME = "bthome"
    JSON = "json"
    RAW = "raw"
    ESPHOME = "esphome"
    ESPNOW_CTRL = "espnow_ctrl"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One sensor or binary-sensor reading.

    ``key`` is stable for a peer (snake_case, e.g. ``temperature``,
    ``temperature_2``, ``battery``, ``opening``). ``device_class``, ``unit`` and
    ``state_class`` are Home Assistant's value strings (``SensorDeviceClass`` or
    ``BinarySensorDeviceClass``, units such as ``°C`` and ``μg/m³``,
    ``SensorStateClass``); ``None`` where generic. ``binary`` marks a binary sensor
    whose value is a ``bool``.
    """

    key: str
    value: float | int | str | bool | None
    device_class: str | None
    unit: str | None
    state_class: str | None
    binary: bool = False
    precision: int | None = None


@dataclass(frozen=True, slots=True)
class ButtonEvent:
    """A transient event: a button press or a dimmer rotation."""

    key: str
    event_type: str
    value: int | None = None


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """Everything decoded from one frame.

    ``packet_id`` (BTHome object 0x00, JSON ``packet_id``/``seq``/``id``, esp-now
    ``(type << 16) | magic``) is for the coordinator's duplicate suppression: the
    decoders report every frame, repeats included. ``decryption_failed``:
    encrypted, but the key is missing or wrong or the counter was replayed; no
    values. ``error``: the format claimed the payload but it is malformed (values
    decoded before the damage may be present).

    Added for ESPHome and Espressif's esp-now component:

    * ``name``: the name the sender declares for itself in every frame (ESPHome's
      hostname, its ``esphome: name:``); ``None`` for formats without one. It is a
      claim, not an identity: bind it to the radio source MAC.
    * ``replayed``: the frame's rolling code (ESPHome) is not newer than the last
      one accepted from that sender; always with ``decryption_failed``, no values.
    * ``repeat``: the frame is a retransmission of one this peer's decoder already
      decoded (esp-now's repeats, recognised by type and magic); no values, so a
      repeated button press is reported once.
    """

    kind: PayloadKind
    measurements: tuple[Measurement, ...] = ()
    events: tuple[ButtonEvent, ...] = ()
    packet_id: int | None = None
    encrypted: bool = False
    decryption_failed: bool = False
    error: str | None = None
    firmware: str | None = None  # the sender's firmware version, where it tells
    name: str | None = None
    replayed: bool = False
    repeat: bool = False

    @property
    def authenticated(self) -> bool:
        """Whether the frame was encrypted, and decrypted and checked with the key."""
        return self.encrypted and not self.decryption_failed and self.error is None


RAW_PAYLOAD: Final = DecodedPayload(kind=PayloadKind.RAW)
