"""BTHome v2 frames as a sender builds them: for the simulator's users and the fuzz harness.

Pure Python, no Home Assistant imports (``cryptography`` comes with bthome-ble).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

SERVICE_DATA_UUID_BYTES = b"\xd2\xfc"


def seal(
    objects: bytes,
    counter: int,
    *,
    mac: bytes,
    key: bytes,
    info: int = 0x41,
    included_mac: bytes = b"",
) -> bytes:
    """Build encrypted BTHome v2 service data (without the UUID).

    AES-CCM, 4-byte tag, nonce = MAC (6) + ``D2 FC`` + device-info byte + counter (4,
    little-endian); the frame is device info, [MAC reversed], ciphertext, counter, MIC.
    ``mac`` is the sender's ESP-NOW source address.
    """
    counter_bytes = (counter & 0xFFFFFFFF).to_bytes(4, "little")
    nonce = mac + SERVICE_DATA_UUID_BYTES + bytes([info]) + counter_bytes
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, objects, None)
    return bytes([info]) + included_mac + sealed[:-4] + counter_bytes + sealed[-4:]
