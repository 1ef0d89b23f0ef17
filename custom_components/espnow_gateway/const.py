"""Constants of the ESP-NOW Gateway integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant.components.event import ATTR_MULTI_PRESS_COUNT, ButtonEventType
from homeassistant.const import Platform

from .espnowgw.model import BUTTON_EVENT_NAMES, ButtonEvent

DOMAIN: Final = "espnow_gateway"
LOGGER = logging.getLogger(__package__)
PLATFORMS: Final = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]

# Config entry data
CONF_BAUDRATE: Final = "baudrate"
DEFAULT_BAUDRATE: Final = 921_600
BAUDRATES: Final = (115_200, 230_400, 460_800, 921_600, 1_500_000, 2_000_000, 3_000_000)

# Options (gateway-wide)
CONF_AUTO_ADD: Final = "auto_add_peers"
CONF_UPDATE_INTERVAL: Final = "update_interval"
CONF_MAX_PEERS: Final = "max_peers"
CONF_PEERS: Final = "peers"  # per-peer settings, keyed by MAC "AA:BB:CC:DD:EE:FF"
DEFAULT_AUTO_ADD: Final = True
DEFAULT_UPDATE_INTERVAL: Final = 5.0  # seconds between state writes of one entity
MAX_UPDATE_INTERVAL: Final = 3600.0
DEFAULT_MAX_PEERS: Final = 100
LIMIT_MAX_PEERS: Final = 500

# Per-peer options
CONF_PAYLOAD_FORMAT: Final = "payload_format"
CONF_BINDKEY: Final = "bindkey"
CONF_EXPECTED_INTERVAL: Final = "expected_interval"  # seconds; 0: never stale

# Timing
TICK_INTERVAL: Final = timedelta(seconds=10)  # availability and gateway figures
DUPLICATE_WINDOW_US: Final = 2_000_000  # repeats of a frame within 2 s are one frame
MIN_STALE_AFTER: Final = 60.0  # a peer is never stale sooner than this (s)
MAX_STALE_AFTER: Final = 24 * 3600.0
STALE_FACTOR: Final = 3.0  # missed expected intervals before a peer is stale
PORT_MISSING_REPAIR_AFTER: Final = 60.0  # seconds a vanished port is tolerated
MAX_PENDING_PEERS: Final = 32  # peers awaiting confirmation
MAX_MEASUREMENTS_PER_PEER: Final = 32
SAVE_DELAY: Final = 10.0  # seconds; peer table writes are batched

# Events
EVENT_BUTTON: Final = f"{DOMAIN}_button"
ATTR_SUBTYPE: Final = "subtype"

SIGNAL_NEW_ENTITIES: Final = f"{DOMAIN}_new_entities_{{}}"


def peer_flow_unique_id(gateway_mac: str, peer_mac: str) -> str:
    """Return the unique id of the discovery flow that asks about a peer."""
    return f"{gateway_mac}-{peer_mac}"


def issue_id(kind: str, entry_id: str) -> str:
    """Return the id of a repair issue of one config entry."""
    return f"{kind}_{entry_id}"


ISSUE_KINDS: Final = ("port_missing", "unsupported_version", "wrong_gateway")

# Button and dimmer events. Decoders report BTHome's event names; where Home
# Assistant has a standard button event type with the same meaning, it is used.
_STANDARD_EVENTS: Final[dict[str, tuple[str, dict[str, int]]]] = {
    "press": (ButtonEventType.MULTI_PRESS_END, {ATTR_MULTI_PRESS_COUNT: 1}),
    "double_press": (ButtonEventType.MULTI_PRESS_END, {ATTR_MULTI_PRESS_COUNT: 2}),
    "triple_press": (ButtonEventType.MULTI_PRESS_END, {ATTR_MULTI_PRESS_COUNT: 3}),
    "hold_press": (ButtonEventType.LONG_PRESS_START, {}),
    "release": (ButtonEventType.PRESS_END, {}),
}
BUTTON_EVENT_TYPES: Final[list[str]] = [
    ButtonEventType.MULTI_PRESS_END,
    ButtonEventType.LONG_PRESS_START,
    ButtonEventType.PRESS_END,
    "long_press",
    "long_double_press",
    "long_triple_press",
]
DIMMER_EVENT_TYPES: Final[list[str]] = ["rotate_left", "rotate_right"]
# BTHome's command object (0x3B): a remote telling what to do.
COMMAND_EVENT_TYPES: Final[list[str]] = ["off", "on", "toggle", "step_up", "step_down"]
# Device triggers keep the decoders' own names: "double press" is a trigger of its own.
BUTTON_TRIGGER_TYPES: Final[list[str]] = list(BUTTON_EVENT_NAMES)


def event_kind(key: str) -> str:
    """Return ``button``, ``dimmer`` or ``command`` for decoder key ``key`` (``button_2``...)."""
    base = key.partition("_")[0]
    return base if base in ("dimmer", "command") else "button"


# Per kind: the event entity's types, then the device triggers' types.
_TYPES_BY_KIND: Final[dict[str, tuple[list[str], list[str]]]] = {
    "button": (BUTTON_EVENT_TYPES, BUTTON_TRIGGER_TYPES),
    "dimmer": (DIMMER_EVENT_TYPES, DIMMER_EVENT_TYPES),
    "command": (COMMAND_EVENT_TYPES, COMMAND_EVENT_TYPES),
}


def event_types_for(key: str) -> list[str]:
    """Return the event types of the event entity for decoder key ``key``."""
    return _TYPES_BY_KIND[event_kind(key)][0]


def trigger_types_for(key: str) -> list[str]:
    """Return the device trigger types for decoder key ``key``."""
    return _TYPES_BY_KIND[event_kind(key)][1]


def map_event(event: ButtonEvent) -> tuple[str, dict[str, int]]:
    """Return the Home Assistant event type and attributes of a decoded event."""
    event_type, attributes = _STANDARD_EVENTS.get(
        event.event_type, (event.event_type, {})
    )
    if event.value is not None:
        attributes = {**attributes, "steps": event.value}
    return event_type, attributes
