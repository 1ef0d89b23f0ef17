"""The gateway's radio channel, chosen with SET_CHANNEL (for gateways that support it).

The entity shows the channel the gateway reports, and a choice only once the gateway
has confirmed it; the choice is kept (the entry's options) and set again whenever the
gateway restarts or reconnects on another channel (:mod:`.radio`). Peers that send on
another channel are no longer heard: peers going silent right after a change is the
usual sign of the wrong channel.
"""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CHANNELS, DOMAIN
from .coordinator import EspNowConfigEntry
from .entity import EspNowGatewayEntity
from .espnowgw.connection import (
    CommandFailedError,
    GatewayError,
    GatewayTimeoutError,
    NotConnectedError,
)
from .espnowgw.messages import Capability

PARALLEL_UPDATES = 1  # one channel change at a time

CHANNEL = SelectEntityDescription(
    key="radio_channel",
    translation_key="radio_channel",
    entity_category=EntityCategory.CONFIG,
    options=[str(channel) for channel in CHANNELS],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EspNowConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the channel select if the gateway can change its channel."""
    gateway = entry.runtime_data
    if gateway.connection.supports(Capability.SET_CHANNEL):
        async_add_entities([ChannelSelect(gateway, CHANNEL)])


class ChannelSelect(EspNowGatewayEntity, SelectEntity):
    """The Wi-Fi channel the gateway's radio listens and sends on."""

    @property
    def current_option(self) -> str | None:
        """Return the channel the gateway reports."""
        info = self.gateway.info
        return str(info.channel) if info is not None else None

    async def async_select_option(self, option: str) -> None:
        """Move the gateway to ``option``; raise a translated error if it refuses."""
        placeholders = {"channel": option, "port": self.gateway.port}
        try:
            await self.gateway.radio.async_set_channel(int(option))
        except CommandFailedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="channel_refused",
                translation_placeholders=placeholders | {"status": err.status_name},
            ) from err
        except NotConnectedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="gateway_not_connected",
                translation_placeholders=placeholders,
            ) from err
        except GatewayTimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="channel_no_answer",
                translation_placeholders=placeholders,
            ) from err
        except GatewayError as err:  # the host's own queue is full
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="gateway_busy",
                translation_placeholders=placeholders,
            ) from err
