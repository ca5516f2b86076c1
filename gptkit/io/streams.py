"""Reading compressed files incrementally, so damage costs only what follows it.

:func:`iter_chunks` yields the decompressed bytes of a ``.zst``, ``.gz``, ``.xz`` or ``.bz2`` file
(or a plain one) in pieces of about 1 MB. The libraries' file readers lose the data decoded in the
read call that meets a truncated end (Python's gzip/lzma/bz2 readers) or take a frame cut short
for a clean end (zstandard's stream reader); here every byte that decodes before the damage is
yielded first, and the damage is then raised as :class:`DamagedStream` with its byte offset.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

COMPRESSION_SUFFIXES = (".zst", ".zstd", ".gz", ".xz", ".bz2")
_CHUNK = 1 << 20


class DamagedStream(Exception):
    """A compressed file is corrupt or truncated; ``offset`` is the byte of the file where the
    decoder stopped (everything before it has been yielded)."""

    def __init__(self, offset: int, detail: str):
        super().__init__(f"at byte {offset:,} of the file: {detail}")
        self.offset = offset


def compression_of(path: str | Path) -> str | None:
    name = str(path).lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return suffix.lstrip(".").replace("zstd", "zst")
    return None


def iter_chunks(path: str | Path) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``path`` in blocks (by suffix: .zst, .gz, .xz, .bz2).

    Decoding is incremental, so a truncated or corrupt file raises :class:`DamagedStream` only
    after every byte that decodes before the damage has been yielded (a file cut inside a zstd,
    gzip, xz or bz2 stream included, which the libraries' file readers lose or take for a clean end).
    Concatenated streams (multi-member gzip, several zstd frames) are read in turn.
    """
    new_decoder = _DECODERS.get(compression_of(path) or "")
    with open(path, "rb") as raw:
        if new_decoder is None:
            while block := raw.read(_CHUNK):
                yield block
            return
        yield from _decoded_chunks(raw, new_decoder)


def _decoded_chunks(raw: BinaryIO, new_decoder: Callable[[], Any]) -> Iterator[bytes]:
    decoder, offset, in_stream = new_decoder(), 0, False
    while block := raw.read(_CHUNK):
        while block:
            in_stream = True
            try:
                yield from _drain(decoder, block)
            except (zstandard.ZstdError, zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as e:
                raise DamagedStream(offset, f"{type(e).__name__}: {e}") from None
            if not decoder.eof:
                offset += len(block)
                break
            rest = decoder.unused_data
            offset += len(block) - len(rest)
            block, decoder, in_stream = rest, new_decoder(), False
            if isinstance(decoder, _Gzip):  # gzip allows zero padding after the last member
                stripped = block.lstrip(b"\0")
                offset, block = offset + len(block) - len(stripped), stripped
    if in_stream:
        raise DamagedStream(offset, "the file ends inside a compressed stream (truncated)")


def _drain(decoder: Any, block: bytes) -> Iterator[bytes]:
    """Decode ``block`` in pieces of at most ``_CHUNK`` bytes (a decompression bomb stays bounded)."""
    out = decoder.decompress(block, _CHUNK)
    while out:
        yield out
        if decoder.eof or not (decoder.more or len(out) == _CHUNK):  # a full piece: more may be pending
            return
        out = decoder.decompress(b"", _CHUNK)


class _Decoder:
    """An incremental decoder ``_d`` seen through one interface: ``decompress(data, max_length)``,
    ``more`` (output still held back), ``eof`` and ``unused_data``."""

    _d: Any

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data


class _Gzip(_Decoder):
    """zlib's gzip decoder with the interface of lzma's and bz2's (``max_length``, ``eof``)."""

    def __init__(self):
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(self._d.unconsumed_tail + data, max_length)

    @property
    def more(self) -> bool:
        return bool(self._d.unconsumed_tail) and not self._d.eof


class _Stdlib(_Decoder):
    """lzma's or bz2's incremental decoder."""

    def __init__(self, decoder: Any):
        self._d = decoder

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)

    @property
    def more(self) -> bool:
        return not self._d.needs_input and not self._d.eof


class _Zstd(_Decoder):
    """zstandard's decoder (no output limit per call; frames hold at most their window)."""

    def __init__(self):
        self._d = zstandard.ZstdDecompressor(max_window_size=2**31).decompressobj()
        self.more = False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data)


_DECODERS: dict[str, Callable[[], Any]] = {
    "gz": _Gzip,
    "xz": lambda: _Stdlib(lzma.LZMADecompressor()),
    "bz2": lambda: _Stdlib(bz2.BZ2Decompressor()),
    "zst": _Zstd,
}
