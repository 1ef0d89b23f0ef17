"""MAC addresses: the one place they are formatted and parsed.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from typing import Final

MAC_LENGTH: Final = 6
BROADCAST: Final = b"\xff" * MAC_LENGTH


def mac_to_str(mac: bytes) -> str:
    """Format a 6-byte MAC as ``AA:BB:CC:DD:EE:FF`` (the form bthome-ble uses too)."""
    return mac.hex(":").upper()


def mac_from_str(text: str) -> bytes:
    """Parse ``AA:BB:CC:DD:EE:FF`` (or with ``-``, or none) into 6 bytes."""
    mac = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(mac) != MAC_LENGTH:
        raise ValueError(f"not a MAC address: {text!r}")
    return mac
