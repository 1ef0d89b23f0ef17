"""The ``espnow_gateway.send`` action: check every target, then hand each to its sender.

Targets are peer devices, MAC addresses and/or broadcast. A peer is sent to by the
gateway whose entry owns its device; a MAC no entry knows by the ``gateway`` given
(or the only one loaded); a broadcast by the ``gateway`` given, or by every loaded
one. Everything is checked before anything is queued: an unknown device, a
malformed payload or one longer than the gateway's ``max_payload`` is a
``ServiceValidationError``; a gateway that is not connected a ``HomeAssistantError``.
The response tells, per target, how the send ended (:class:`.sender.SendOutcome`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
import json
import re
from typing import Any, Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType
import probatio as vol

from .const import (
    DEFAULT_SEND_RETRIES,
    DEFAULT_SEND_TIMEOUT,
    DOMAIN,
    MAX_SEND_RETRIES,
    MAX_SEND_TIMEOUT,
)
from .coordinator import EspNowConfigEntry, EspNowGateway
from .espnowgw.mac import BROADCAST, mac_from_str, mac_to_str
from .espnowgw.messages import Capability
from .peer import Peer
from .sender import SUCCESSES, SendOutcome, SendReport

SERVICE_SEND: Final = "send"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_MAC: Final = "mac"
ATTR_BROADCAST: Final = "broadcast"
ATTR_GATEWAY: Final = "gateway"
ATTR_PAYLOAD: Final = "payload"
ATTR_ENCODING: Final = "encoding"
ATTR_WAIT: Final = "wait"
ATTR_TIMEOUT: Final = "timeout"
ATTR_RETRIES: Final = "retries"
_HEX_SEPARATORS: Final = re.compile(r"[\s:\-]")


class PayloadEncoding(StrEnum):
    """How the ``payload`` text becomes bytes."""

    TEXT = "text"  # UTF-8
    HEX = "hex"  # "01 ff", "01:ff" or "01ff"
    BASE64 = "base64"
    JSON = "json"  # re-encoded compactly (an object given as such is JSON too)


SEND_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_DEVICE_ID, default=list): vol.All(
            cv.ensure_list, [cv.string]
        ),
        vol.Optional(ATTR_MAC, default=list): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_BROADCAST, default=False): cv.boolean,
        vol.Optional(ATTR_GATEWAY): cv.string,
        vol.Required(ATTR_PAYLOAD): vol.Any(str, dict, list, int, float, bool),
        vol.Optional(ATTR_ENCODING): vol.In([e.value for e in PayloadEncoding]),
        vol.Optional(ATTR_WAIT, default=False): cv.boolean,
        vol.Optional(ATTR_TIMEOUT, default=DEFAULT_SEND_TIMEOUT): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=MAX_SEND_TIMEOUT)
        ),
        vol.Optional(ATTR_RETRIES, default=DEFAULT_SEND_RETRIES): vol.All(
            vol.Coerce(int), vol.Range(min=0, max=MAX_SEND_RETRIES)
        ),
    }
)


def _invalid(key: str, **placeholders: Any) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={k: str(v) for k, v in placeholders.items()},
    )


def encode_payload(payload: Any, encoding: str | None) -> bytes:
    """Return the bytes of ``payload`` in ``encoding`` (None: text, or JSON)."""
    if not isinstance(payload, str):
        if encoding not in (None, PayloadEncoding.JSON):
            raise _invalid("payload_not_text", encoding=encoding)
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    match encoding or PayloadEncoding.TEXT:
        case PayloadEncoding.HEX:
            try:
                return bytes.fromhex(_HEX_SEPARATORS.sub("", payload))
            except ValueError:
                raise _invalid("invalid_hex") from None
        case PayloadEncoding.BASE64:
            try:
                return base64.b64decode(payload, validate=True)
            except binascii.Error:
                raise _invalid("invalid_base64") from None
        case PayloadEncoding.JSON:
            try:
                value = json.loads(payload)
            except ValueError as err:
                raise _invalid("invalid_json", error=err) from None
            return encode_payload(value, PayloadEncoding.JSON)
    return payload.encode()


def loaded_gateways(hass: HomeAssistant) -> list[EspNowGateway]:
    """Return the runtimes of the loaded gateways."""
    entries: list[EspNowConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    return [entry.runtime_data for entry in entries]


def peer_of_device(
    hass: HomeAssistant, device_id: str
) -> tuple[EspNowGateway, Peer] | None:
    """Return the peer behind a device, with the gateway whose entry owns it."""
    for gateway in loaded_gateways(hass):
        if (peer := gateway.table.by_device(device_id)) is not None:
            return gateway, peer
    return None


@dataclass(frozen=True, slots=True)
class _Target:
    gateway: EspNowGateway
    mac: bytes
    device_id: str | None = None


def _chosen_gateway(hass: HomeAssistant, entry_id: str | None) -> EspNowGateway | None:
    if entry_id is None:
        return None
    for gateway in loaded_gateways(hass):
        if gateway.entry.entry_id == entry_id:
            return gateway
    raise _invalid("gateway_not_found", entry_id=entry_id)


def _targets(hass: HomeAssistant, data: dict[str, Any]) -> list[_Target]:
    """Resolve the call's targets; raise a ServiceValidationError for a bad one."""
    chosen = _chosen_gateway(hass, data.get(ATTR_GATEWAY))
    gateways = loaded_gateways(hass)
    targets: list[_Target] = []
    for device_id in data[ATTR_DEVICE_ID]:
        if (found := peer_of_device(hass, device_id)) is None:
            raise _invalid("unknown_device", device_id=device_id)
        targets.append(_Target(found[0], found[1].mac, device_id))
    broadcast = bool(data[ATTR_BROADCAST])
    for text in data[ATTR_MAC]:
        try:
            mac = mac_from_str(text)
        except ValueError:
            raise _invalid("invalid_mac", mac=text) from None
        if mac == BROADCAST:
            broadcast = True
            continue
        owners = [g for g in gateways if mac in g.table.peers]
        if owners:
            targets.append(
                _Target(owners[0], mac, owners[0].table.peers[mac].device_id)
            )
        elif chosen is not None or len(gateways) == 1:
            targets.append(_Target(chosen or gateways[0], mac))
        else:
            raise _invalid("gateway_required", mac=mac_to_str(mac))
    if broadcast:
        if not gateways:
            raise _invalid("no_gateway")
        targets.extend(
            _Target(g, BROADCAST) for g in ([chosen] if chosen else gateways)
        )
    if not targets:
        raise _invalid("no_target")
    return list(dict.fromkeys(targets))  # in order, each once


def _check(target: _Target, payload: bytes) -> None:
    gateway = target.gateway
    info = gateway.info
    if not gateway.connected or info is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="gateway_not_connected",
            translation_placeholders={"port": gateway.port},
        )
    if not gateway.connection.supports(Capability.SEND):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="send_not_supported",
            translation_placeholders={"port": gateway.port},
        )
    if not payload:
        raise _invalid("empty_payload")
    if len(payload) > info.max_payload:
        raise _invalid(
            "payload_too_long",
            length=len(payload),
            max_payload=info.max_payload,
            port=gateway.port,
        )


async def _async_send(call: ServiceCall) -> ServiceResponse:
    data = call.data
    payload = encode_payload(data[ATTR_PAYLOAD], data.get(ATTR_ENCODING))
    targets = _targets(call.hass, dict(data))
    for target in targets:
        _check(target, payload)
    futures = [
        target.gateway.sender.submit(
            target.mac, payload, timeout=data[ATTR_TIMEOUT], retries=data[ATTR_RETRIES]
        )
        for target in targets
    ]
    if data[ATTR_WAIT]:
        await asyncio.gather(*futures)
    results: list[JsonValueType] = []
    outcomes: list[SendOutcome] = []
    for target, future in zip(targets, futures, strict=True):
        report = future.result() if future.done() else SendReport(SendOutcome.QUEUED)
        outcomes.append(report.outcome)
        results.append(
            {
                "target": mac_to_str(target.mac),
                "device_id": target.device_id,
                "gateway": target.gateway.entry.entry_id,
                "outcome": report.outcome.value,
                "attempts": report.attempts,
                "status": report.status,
            }
        )
    if not call.return_response:
        return None
    return {
        "results": results,
        "delivered": sum(outcome in SUCCESSES for outcome in outcomes),
        "failed": sum(
            outcome not in SUCCESSES and outcome is not SendOutcome.QUEUED
            for outcome in outcomes
        ),
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in ``async_setup``)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEND,
        _async_send,
        schema=SEND_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
