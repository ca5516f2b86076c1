"""GPT-2's reversible map between raw bytes and printable unicode characters.

Byte-level BPE vocabularies (OpenAI's ``encoder.json``, HF ``vocab.json``/``tokenizer.json``)
store every token as a string of these characters: printable bytes stand for themselves and
the others (space, control bytes, ...) are shifted to code points 256 and up, so the space
becomes ``Ġ`` and the newline ``Ċ``. tiktoken works on the raw bytes instead.
"""

from __future__ import annotations

from functools import cache

#: Bytes that stand for themselves, in GPT-2's order (they get ids 0–187 in GPT-2).
_PRINTABLE = (*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1))


@cache
def byte_to_char() -> tuple[str, ...]:
    """``byte_to_char()[b]`` is the character that stands for byte ``b``."""
    chars = {b: chr(b) for b in _PRINTABLE}
    shifted = 256
    for b in range(256):
        if b not in chars:
            chars[b] = chr(shifted)
            shifted += 1
    return tuple(chars[b] for b in range(256))


@cache
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in enumerate(byte_to_char())}


def gpt2_byte_order() -> list[int]:
    """The 256 bytes in the order GPT-2 numbers them (printable bytes first): ids 0–255."""
    return [*_PRINTABLE, *(b for b in range(256) if b not in _PRINTABLE)]


def to_bytes(token: str) -> bytes:
    """The raw bytes of a byte-level token string; ``KeyError`` if it is not byte-level."""
    table = char_to_byte()
    return bytes(table[c] for c in token)


def to_unicode(data: bytes) -> str:
    table = byte_to_char()
    return "".join(table[b] for b in data)
