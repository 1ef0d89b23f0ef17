"""Constants of the ESP-NOW Gateway integration (a leaf: imports nothing of the package)."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "espnow_gateway"
LOGGER = logging.getLogger(__package__)
PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.SELECT,
    Platform.SENSOR,
]

# Config entry data (the default baud rate is the protocol's: espnowgw.messages)
CONF_BAUDRATE: Final = "baudrate"
BAUDRATES: Final = (115_200, 230_400, 460_800, 921_600, 1_500_000, 2_000_000, 3_000_000)
MIN_BAUDRATE: Final = 300
MAX_BAUDRATE: Final = 5_000_000

# Options (gateway-wide)
CONF_AUTO_ADD: Final = "auto_add_peers"
CONF_UPDATE_INTERVAL: Final = "update_interval"
CONF_SLOW_INTERVAL: Final = "slow_update_interval"
CONF_MAX_PEERS: Final = "max_peers"
CONF_PEERS: Final = "peers"  # per-peer settings, keyed by MAC "AA:BB:CC:DD:EE:FF"
CONF_CHANNEL: Final = "channel"  # chosen with the channel select (radio.py)
CONF_PMK: Final = "pmk"  # ESP-NOW primary master key, 32 hex digits
DEFAULT_AUTO_ADD: Final = True
DEFAULT_UPDATE_INTERVAL: Final = 5.0  # seconds between state writes of one entity
# Seconds between state writes of a slowly changing value (temperature, humidity,
# battery...): no reading of a room's temperature is worth a recorder row every 5 s.
DEFAULT_SLOW_INTERVAL: Final = 30.0
SLOWLY_CHANGING_CLASSES: Final = frozenset(
    {
        "atmospheric_pressure",
        "battery",
        "carbon_dioxide",
        "humidity",
        "moisture",
        "pm1",
        "pm10",
        "pm25",
        "pressure",
        "temperature",
        "volatile_organic_compounds",
        "volatile_organic_compounds_parts",
    }
)
MAX_UPDATE_INTERVAL: Final = 3600.0
DEFAULT_MAX_PEERS: Final = 100
LIMIT_MAX_PEERS: Final = 2000

# Per-peer options
CONF_PAYLOAD_FORMAT: Final = "payload_format"
CONF_BINDKEY: Final = "bindkey"
CONF_ESPHOME_KEY: Final = "esphome_key"  # the node's packet_transport encryption key
CONF_ENTITIES: Final = "entities"  # per measurement key: name, device class, unit
CONF_CLEAR_BINDKEY: Final = "clear_bindkey"  # a form field only, never stored
# Form fields only, never stored:
CONF_CLEAR_ESPHOME_KEY: Final = "clear_esphome_key"
CONF_CLEAR_LMK: Final = "clear_lmk"
CONF_CLEAR_PMK: Final = "clear_pmk"
CONF_RESET_ROLLING_CODE: Final = "reset_rolling_code"
CONF_EDIT_ENTITIES: Final = "edit_entities"
CONF_ENTITY: Final = "entity"
CONF_EXPECTED_INTERVAL: Final = "expected_interval"  # seconds; 0: never stale
CONF_LMK: Final = "lmk"  # ESP-NOW local master key, 32 hex digits: an encrypted peer

# Timing
TICK_INTERVAL: Final = timedelta(seconds=10)  # availability and gateway figures
DUPLICATE_WINDOW_US: Final = 2_000_000  # repeats of a frame within 2 s are one frame
MIN_STALE_AFTER: Final = 60.0  # a peer is never stale sooner than this (s)
MAX_STALE_AFTER: Final = 24 * 3600.0
STALE_FACTOR: Final = 3.0  # missed expected intervals before a peer is stale
URGENT_MIN_GAP: Final = 0.25  # s between two writes caused by binary state changes
DIAGNOSTIC_INTERVAL: Final = 60.0  # s between writes of jittery diagnostics (RSSI)
PORT_MISSING_REPAIR_AFTER: Final = 60.0  # seconds a vanished port is tolerated
PORT_BUSY_REPAIR_AFTER: Final = 60.0  # seconds another program may hold the port
PROBE_TIMEOUT: Final = 5.0  # s the config flow waits for a gateway's hello
SAVE_DELAY: Final = 10.0  # seconds; peer table writes are batched

# Bounds
MAX_PENDING_PEERS: Final = 32  # peers awaiting confirmation
PENDING_STALE_AFTER: Final = 600  # s: a silent pending peer makes room for a new one
MAX_PENDING_FRAMES: Final = 4  # latest frames kept of each (to check a key against)
MAX_MEASUREMENTS_PER_PEER: Final = 32

# Sending (sender.py; the limits are documented in docs/sending.md)
SEND_BURST: Final = 10  # sends to one peer at once: the token bucket's capacity
SEND_RATE: Final = 2.0  # sends per second to one peer, sustained: its refill
MAX_QUEUED_SENDS: Final = 32  # accepted sends not finished yet, per gateway
MAX_SENDS_IN_FLIGHT: Final = 4  # SENDs waiting for the gateway's answer at once
MAX_RATE_BUCKETS: Final = 256  # destinations whose bucket is remembered
DEFAULT_SEND_TIMEOUT: Final = 10.0  # s a send may take in all (queue and retries)
MAX_SEND_TIMEOUT: Final = 60.0
DEFAULT_SEND_RETRIES: Final = 2
MAX_SEND_RETRIES: Final = 5
SEND_RETRY_DELAY: Final = 0.1  # s before the first retry, doubled for each next one
CHANNELS: Final = range(1, 15)  # Wi-Fi channels; the gateway may refuse some (14)

# Events and signals
EVENT_BUTTON: Final = f"{DOMAIN}_button"
ATTR_SUBTYPE: Final = "subtype"
SIGNAL_NEW_ENTITIES: Final = f"{DOMAIN}_new_entities_{{}}"
SIGNAL_STREAM_CHANGED: Final = f"{DOMAIN}_stream_changed"

# Repair issues of one entry (their ids: helpers.issue_id)
ISSUE_KINDS: Final = (
    "port_busy",
    "port_missing",
    "unsupported_version",
    "wrong_gateway",
)
PROTOCOL_DOC_URL: Final = (
    "https://github.com/espnow-gateway/ha-espnow-gateway/blob/main/docs/protocol.md"
    "#4-versioning"
)
