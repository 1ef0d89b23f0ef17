"""Device triggers for button and dimmer events of peers."""

from __future__ import annotations

from typing import Any

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType
import probatio as vol

from .const import ATTR_SUBTYPE, DOMAIN, EVENT_BUTTON
from .events import ALL_TRIGGER_TYPES, trigger_types_for
from .peer import Peer
from .services import peer_of_device

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In(ALL_TRIGGER_TYPES),
        vol.Required(ATTR_SUBTYPE): str,
    }
)


def _peer(hass: HomeAssistant, device_id: str) -> Peer | None:
    found = peer_of_device(hass, device_id)
    return found[1] if found is not None else None


async def async_get_triggers(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, Any]]:
    """List a peer's triggers: every event type of every button it has reported."""
    peer = _peer(hass, device_id)
    if peer is None:
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: event_type,
            ATTR_SUBTYPE: key,
        }
        for key in sorted(peer.event_keys)
        for event_type in trigger_types_for(key)
    ]


async def async_validate_trigger_config(
    hass: HomeAssistant, config: ConfigType
) -> ConfigType:
    """Validate a trigger: the type must belong to the subtype's event entity."""
    config = TRIGGER_SCHEMA(config)
    if config[CONF_TYPE] not in trigger_types_for(config[ATTR_SUBTYPE]):
        raise InvalidDeviceAutomationConfig(
            translation_domain=DOMAIN,
            translation_key="invalid_trigger",
            translation_placeholders={
                "type": config[CONF_TYPE],
                "subtype": config[ATTR_SUBTYPE],
            },
        )
    return config


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the button event on the bus."""
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_BUTTON,
            CONF_EVENT_DATA: {
                CONF_DEVICE_ID: config[CONF_DEVICE_ID],
                CONF_TYPE: config[CONF_TYPE],
                ATTR_SUBTYPE: config[ATTR_SUBTYPE],
            },
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
