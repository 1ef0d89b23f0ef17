"""Button, dimmer and command events: from the decoders' names to Home Assistant's.

Decoders report BTHome's event names (``espnowgw.model.BUTTON_EVENT_NAMES``). Event
entities use Home Assistant's standard button event types where one means the same;
device triggers keep the decoders' own names ("double press" is a trigger of its own).
"""

from __future__ import annotations

from typing import Final

from homeassistant.components.event import ATTR_MULTI_PRESS_COUNT, ButtonEventType

from .espnowgw.model import BUTTON_EVENT_NAMES, ButtonEvent

_STANDARD_EVENTS: Final[dict[str, tuple[str, dict[str, int]]]] = {
    "press": (ButtonEventType.MULTI_PRESS_END, {ATTR_MULTI_PRESS_COUNT: 1}),
    "double_press": (ButtonEventType.MULTI_PRESS_END, {ATTR_MULTI_PRESS_COUNT: 2}),
    "triple_press": (ButtonEventType.MULTI_PRESS_END, {ATTR_MULTI_PRESS_COUNT: 3}),
    "hold_press": (ButtonEventType.LONG_PRESS_START, {}),
    "release": (ButtonEventType.PRESS_END, {}),
    "hold_release": (ButtonEventType.LONG_PRESS_END, {}),
}
BUTTON_EVENT_TYPES: Final[list[str]] = [
    ButtonEventType.MULTI_PRESS_END,
    ButtonEventType.LONG_PRESS_START,
    ButtonEventType.LONG_PRESS_END,
    ButtonEventType.PRESS_END,
    "long_press",
    "long_double_press",
    "long_triple_press",
]
DIMMER_EVENT_TYPES: Final[list[str]] = ["rotate_left", "rotate_right"]
# BTHome's command object (0x3B): a remote telling what to do.
COMMAND_EVENT_TYPES: Final[list[str]] = ["off", "on", "toggle", "step_up", "step_down"]
BUTTON_TRIGGER_TYPES: Final[list[str]] = list(BUTTON_EVENT_NAMES)
ALL_TRIGGER_TYPES: Final[list[str]] = (
    BUTTON_TRIGGER_TYPES + DIMMER_EVENT_TYPES + COMMAND_EVENT_TYPES
)


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
