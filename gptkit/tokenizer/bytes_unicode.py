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
    try:
        return token.translate(_char_to_latin1()).encode("latin-1")
    except UnicodeEncodeError:
        raise KeyError(token) from None


def to_unicode(data: bytes) -> str:
    """The byte-level string of raw bytes (``b" the"`` -> ``"Ġthe"``)."""
    return data.decode("latin-1").translate(_latin1_to_char())


@cache
def _latin1_to_char() -> dict[int, str]:
    """``str.translate`` table from latin-1 characters (one per byte) to byte-level characters."""
    return {b: c for b, c in enumerate(byte_to_char()) if ord(c) != b}


@cache
def _char_to_latin1() -> dict[int, int]:
    """The inverse table; latin-1 characters that stand for no byte map to one that latin-1
    cannot encode, so that ``to_bytes`` fails on them."""
    table = {ord(c): b for c, b in char_to_byte().items() if ord(c) != b}
    table.update({b: 0xFFFF for b in range(256) if chr(b) not in char_to_byte()})
    return table
