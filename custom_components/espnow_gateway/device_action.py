"""Device action "Send payload" on peer devices: the ``espnow_gateway.send`` action."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_TYPE
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType, TemplateVarsType
import probatio as vol

from .const import DOMAIN
from .services import (
    ATTR_DEVICE_ID,
    ATTR_ENCODING,
    ATTR_PAYLOAD,
    SERVICE_SEND,
    PayloadEncoding,
    peer_of_device,
)

ACTION_SEND: Final = "send_payload"
ENCODINGS: Final = [encoding.value for encoding in PayloadEncoding]

ACTION_SCHEMA = cv.DEVICE_ACTION_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): ACTION_SEND,
        vol.Required(ATTR_PAYLOAD): cv.template,
        vol.Optional(ATTR_ENCODING, default=PayloadEncoding.TEXT.value): vol.In(
            ENCODINGS
        ),
    }
)


async def async_get_actions(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, Any]]:
    """Offer "Send payload" on every peer device (not on the gateway itself)."""
    if peer_of_device(hass, device_id) is None:
        return []
    return [{CONF_DEVICE_ID: device_id, CONF_DOMAIN: DOMAIN, CONF_TYPE: ACTION_SEND}]


async def async_get_action_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """List the fields the automation editor shows: the payload, its encoding."""
    return {
        "extra_fields": vol.Schema(
            {
                vol.Required(ATTR_PAYLOAD): str,
                vol.Optional(ATTR_ENCODING, default=PayloadEncoding.TEXT.value): vol.In(
                    ENCODINGS
                ),
            }
        )
    }


async def async_call_action_from_config(
    hass: HomeAssistant,
    config: ConfigType,
    variables: TemplateVarsType,
    context: Context | None,
) -> None:
    """Send the (rendered) payload to the device, as the action would."""
    payload = config[ATTR_PAYLOAD].async_render(variables, parse_result=False)
    await hass.services.async_call(
        DOMAIN,
        SERVICE_SEND,
        {
            ATTR_DEVICE_ID: [config[CONF_DEVICE_ID]],
            ATTR_PAYLOAD: payload,
            ATTR_ENCODING: config[ATTR_ENCODING],
        },
        blocking=True,
        context=context,
    )
