"""espnowgw: talk to an ESP-NOW USB gateway and decode what its peers send.

The gateway link (``codec``: framing, ``messages``: protocol v1, ``connection``: the
asyncio connection over serialx) and the payload decoders (``decoders``: BTHome v2,
JSON, format detection), with the payload model they share (``model``) and MAC
helpers (``mac``). Pure Python, asyncio-native, no Home Assistant imports: every
module imports only the standard library, serialx, bthome-ble and this package
(relatively), so the package works both on its own (``pip install espnowgw``) and
vendored inside the Home Assistant integration.
"""

__version__ = "0.1.0"
