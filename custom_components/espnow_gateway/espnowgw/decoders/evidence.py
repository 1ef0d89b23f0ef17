"""A new sender's format, committed on the evidence of several frames.

Format detection (:func:`.formats.sniff`) looks at one frame; a new sender is only
given a kind once its frames, taken together, are evidence that random bytes
practically never give (:class:`FormatEvidence`). And a key the user types for a
sender is checked against the frames it sent (:func:`bindkey_matches`).

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..mac import MAC_LENGTH
from ..model import PayloadKind
from . import bthome
from .formats import BINDKEY_LENGTH, Sniffed, sniff, strip_bthome_uuid

FRAMES_TO_COMMIT: Final = 3
"""Consecutive consistent BTHome frames before a new sender counts as BTHome."""
MAX_COUNTER_STEP: Final = 1 << 16
"""Largest rise of an encrypted BTHome counter from one frame to the next."""
_COMMITTED_AT_ONCE: Final = frozenset({PayloadKind.ESPHOME, PayloadKind.ESPNOW_CTRL})


class FormatEvidence:
    """What a new sender's frames tell about its format, frame after frame.

    One frame that :func:`sniff` calls BTHome or JSON is weak evidence: random
    bytes start with an encrypted BTHome device-info byte once in 64 frames, and
    short ones often walk as a BTHome object list. A kind is therefore committed
    only on evidence that random payloads practically never give:

    * **JSON**: one frame that parses as a JSON object with at least one member
      (an empty object ``{}`` is no evidence).
    * **BTHome**: :data:`FRAMES_TO_COMMIT` consecutive frames with the same
      device-info byte (and the same use of the ``D2 FC`` prefix), each of them
      either unencrypted and a complete, ordered walk of known objects, or
      encrypted, long enough, and with a counter that rises by 1 to
      :data:`MAX_COUNTER_STEP` from the frame before. An exact repeat of the
      previous frame (remotes repeat) neither adds nor breaks the run; anything
      else breaks it.
    * **ESPHome**, **esp-now component**: one frame that :func:`sniff` calls so
      (their detection needs a magic and a well-formed header, or the sender's
      MAC in the header: ``tests/lib/decoders/test_detection.py``).

    A random sender commits a kind in far fewer than one in 100,000 cases
    (``tests/lib/decoders/test_format_evidence.py`` measures it). Committed is
    final. Nothing here decodes: :meth:`feed` returns :func:`sniff`'s result for
    the frame, for its decode.
    """

    __slots__ = (
        "_committed",
        "_counter",
        "_encrypted",
        "_last",
        "_mac",
        "_run",
        "_signature",
    )

    def __init__(self, mac: bytes | None = None) -> None:
        """Start with no evidence of the sender with MAC ``mac`` (for :func:`sniff`)."""
        self._mac = mac
        self._committed: PayloadKind | None = None
        self._encrypted = False
        self._run = 0
        self._signature = -1
        self._counter = 0
        self._last = b""

    @property
    def committed(self) -> PayloadKind | None:
        """The sender's kind once the evidence suffices, else None (raw so far)."""
        return self._committed

    @property
    def encrypted(self) -> bool:
        """Whether the committed BTHome sender encrypts its payloads."""
        return self._encrypted

    @property
    def undecided(self) -> bool:
        """Whether a run of BTHome-like frames is under way, not yet committed."""
        return self._committed is None and self._run > 0

    def feed(self, payload: bytes) -> Sniffed:
        """Take one frame's payload as evidence; return what :func:`sniff` found."""
        sniffed = sniff(payload, self._mac)
        if self._committed is not None:
            return sniffed
        if sniffed.kind in _COMMITTED_AT_ONCE:
            self._run = 0
            self._committed = sniffed.kind
            return sniffed
        if sniffed.kind is PayloadKind.JSON:
            self._run = 0
            if sniffed.obj:
                self._committed = PayloadKind.JSON
            return sniffed
        if payload == self._last:
            return sniffed
        self._last = payload
        data = sniffed.data
        prefixed = len(data) != len(payload)
        # sniff() walked a bare payload already; after the prefix it did not.
        if sniffed.kind is not PayloadKind.BTHOME or (
            prefixed and not bthome.is_plausible_bthome(data)
        ):
            self._run = 0
            return sniffed
        signature = data[0] | (0x100 if prefixed else 0)
        consistent = self._run > 0 and signature == self._signature
        if data[0] & bthome.FLAG_ENCRYPTED:
            counter = int.from_bytes(data[-8:-4], "little")
            consistent = consistent and 0 < counter - self._counter <= MAX_COUNTER_STEP
            self._counter = counter
        self._run = self._run + 1 if consistent else 1
        self._signature = signature
        if self._run >= FRAMES_TO_COMMIT:
            self._committed = PayloadKind.BTHOME
            self._encrypted = bool(data[0] & bthome.FLAG_ENCRYPTED)
        return sniffed


def bindkey_matches(mac: bytes, bindkey: bytes, payloads: Iterable[bytes]) -> bool:
    """Whether ``bindkey`` decrypts one of a sender's encrypted BTHome ``payloads``.

    ``mac`` is the sender's (part of the nonce). The payloads are tried in order,
    with one decoder, so a counter that went backwards fails as it would in use.
    """
    if len(mac) != MAC_LENGTH or len(bindkey) != BINDKEY_LENGTH:
        return False
    decoder = bthome.BTHomeDecoder(mac, bindkey)
    for payload in payloads:
        decoded = decoder.decode(strip_bthome_uuid(payload))
        if decoded.encrypted and not decoded.decryption_failed and not decoded.error:
            return True
    return False
