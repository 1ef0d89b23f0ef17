"""The simulator's ESPHome nodes and esp-now button decode as what they simulate."""

from __future__ import annotations

from collections import Counter, defaultdict

from devtools.simulator import (
    ALL_KINDS,
    ESPHOME_KEY,
    ESPNOW_REPEATS,
    SimulatedGateway,
    SimulatorConfig,
    _parse_args,
)
from espnowgw.decoders.formats import PeerDecoder
from espnowgw.model import DecodedPayload, PayloadKind

NEW_KINDS = ("esphome", "esphome_encrypted", "esphome_multi", "espnow_button")


def _gateway(seed: int = 1) -> tuple[SimulatedGateway, list[tuple[bytes, bytes]]]:
    sent: list[tuple[bytes, bytes]] = []
    sim = SimulatedGateway(
        SimulatorConfig(peers=4, kinds=NEW_KINDS, seed=seed), lambda _data: None
    )

    def packet(src: bytes, payload: bytes, rssi: int = -60) -> bool:
        sent.append((src, payload))
        return True

    sim.packet = packet  # type: ignore[method-assign]
    return sim, sent


def _decoders(sim: SimulatedGateway) -> dict[bytes, PeerDecoder]:
    return {
        peer.mac: PeerDecoder(
            peer.mac,
            esphome_key=ESPHOME_KEY if peer.kind == "esphome_encrypted" else None,
        )
        for peer in sim.peers
    }


def test_new_kinds_decode_with_their_values() -> None:
    sim, sent = _gateway()
    decoders = _decoders(sim)
    by_kind = {peer.kind: peer for peer in sim.peers}
    results: dict[str, list[DecodedPayload]] = defaultdict(list)
    for _ in range(3):
        for peer in sim.peers:
            sim.emit_from(peer, press=False)
    for src, payload in sent:
        kind = next(p.kind for p in sim.peers if p.mac == src)
        results[kind].append(decoders[src].decode(payload))
    for kind in ("esphome", "esphome_encrypted"):
        assert len(results[kind]) == 3  # one frame per send
        for decoded in results[kind]:
            assert decoded.kind is PayloadKind.ESPHOME
            assert decoded.encrypted is (kind == "esphome_encrypted")
            assert [m.key for m in decoded.measurements] == [
                "temperature",
                "humidity",
                "battery",
                "motion",
            ]
    # The multi-frame node: two frames per send, together all its values.
    multi = results["esphome_multi"]
    assert len(multi) == 6
    keys = [m.key for d in multi[:2] for m in d.measurements]
    assert keys == ["temperature", "humidity", "battery", "pressure", "illuminance", "motion"]
    assert all(d.measurements for d in multi)
    assert {d.name for d in multi} == {f"sim-multi-{by_kind['esphome_multi'].mac[-2:].hex()}"}
    # The button reports its battery when not pressed.
    for decoded in results["espnow_button"]:
        assert decoded.kind is PayloadKind.ESPNOW_CTRL
        assert [(m.key, m.value) for m in decoded.measurements] == [("battery", 100)]


def test_a_button_press_is_repeated_and_decoded_once() -> None:
    sim, sent = _gateway()
    button = next(p for p in sim.peers if p.kind == "espnow_button")
    decoder = _decoders(sim)[button.mac]
    assert sim.emit_from(button, press=True) == ESPNOW_REPEATS
    results = [decoder.decode(payload) for _src, payload in sent]
    assert Counter(d.repeat for d in results) == {True: ESPNOW_REPEATS - 1, False: 1}
    assert [(e.key, e.event_type) for e in results[0].events] == [
        ("button", "press"),
        ("command", "toggle"),
    ]


def test_an_esphome_press_is_a_binary_state_sent_once() -> None:
    sim, sent = _gateway()
    node = next(p for p in sim.peers if p.kind == "esphome_encrypted")
    decoder = _decoders(sim)[node.mac]
    assert sim.emit_from(node, press=True) == 1
    assert sim.emit_from(node, press=False) == 1
    states = [
        m.value for _s, p in sent for m in decoder.decode(p).measurements if m.binary
    ]
    assert states == [True, False]


def test_runs_are_reproducible() -> None:
    first, sent_first = _gateway(seed=7)
    second, sent_second = _gateway(seed=7)
    for sim in (first, second):
        for _ in range(5):
            for peer in sim.peers:
                sim.emit_from(peer)
    assert sent_first == sent_second


def test_command_line_accepts_the_new_kinds() -> None:
    args = _parse_args(["--kinds", ",".join(ALL_KINDS)])
    assert tuple(args.kinds) == ALL_KINDS
