"""Check the worked examples in docs/protocol.md against the real codec.

Every ``<!-- example: EXPR -->`` line followed by a fenced ``hex`` block is an
example: EXPR, evaluated with the names of the messages module, must encode to
exactly the bytes of the block, and decoding those bytes must give back the message.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest

from espnowgw import mac, messages

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
MIN_EXAMPLES = 7
EXAMPLE = re.compile(
    r"^<!-- example: (?P<expr>.+?) -->[ \t]*\n```hex[ \t]*\n(?P<hex>.*?)^```",
    re.MULTILINE | re.DOTALL,
)


def _examples() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [
        (m["expr"].strip(), " ".join(m["hex"].split())) for m in EXAMPLE.finditer(text)
    ]


EXAMPLES = _examples()


def _build(expr: str) -> messages.Message:
    namespace = dict(vars(messages)) | dict(vars(mac))
    msg = eval(expr, namespace)  # noqa: S307 - expressions come from our own docs
    assert isinstance(msg, messages.Message), expr
    return msg


def test_every_marker_has_a_hex_block() -> None:
    markers = DOC.read_text(encoding="utf-8").count("<!-- example:")
    assert markers == len(EXAMPLES), (
        f"{markers - len(EXAMPLES)} example markers are not directly followed by a hex block"
    )


def test_enough_examples() -> None:
    assert len(EXAMPLES) >= MIN_EXAMPLES, (
        f"{DOC} has {len(EXAMPLES)} examples, at least {MIN_EXAMPLES} are required"
    )


def test_every_message_type_has_an_example() -> None:
    shown = {type(_build(expr)) for expr, _ in EXAMPLES}
    missing = sorted(
        cls.__name__ for cls in messages.MESSAGE_TYPES.values() if cls not in shown
    )
    assert not missing, f"no example in {DOC.name} for {', '.join(missing)}"


@pytest.mark.parametrize(("expr", "hex_text"), EXAMPLES, ids=[e for e, _ in EXAMPLES])
def test_example(expr: str, hex_text: str) -> None:
    msg = _build(expr)
    assert msg.encode().hex(" ") == hex_text

    frame = bytes.fromhex(hex_text)
    decoder = messages.host_decoder() if msg.TYPE < 0x80 else messages.gateway_decoder()
    assert decoder.feed(frame) == [msg]
    assert decoder.buffered == 0
