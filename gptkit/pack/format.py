"""Token shards: llm.c's ``.bin`` format plus a sidecar index of document ends.

A shard ``train_00000.bin`` is a 1,024-byte header of 256 little-endian int32 followed by the
raw tokens. The first three ints are llm.c's, so its readers (and any numpy one-liner) open the
files as they are:

============  =================================================================================
``h[0]``      magic: 20240520 for uint16 tokens, 20240801 for uint32 (vocabulary > 65,535)
``h[1]``      version: 1 for uint16, 7 for uint32
``h[2]``      number of tokens in the file
``h[3]``      ``GPTKIT_MAGIC`` ("gptk"): the following ints are gptkit's (llm.c ignores them)
``h[4]``      gptkit header version (1)
``h[5]``      vocabulary size (number of ids, specials included)
``h[6]``      id of ``<|endoftext|>``
``h[7]``      number of documents in the shard
============  =================================================================================

``train_00000.idx.npy`` holds the cumulative document ends (int64, one per document, each the
index just past that document's ``<|endoftext|>``). Open the tokens of a shard with numpy::

    tokens = np.memmap("train_00000.bin", dtype=np.uint16, mode="r", offset=1024)

(``np.uint32`` when ``h[0] == 20240801``.)
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gptkit.errors import InputError
from gptkit.io.atomic import atomic_path

HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
MAGIC_UINT16, VERSION_UINT16 = 20240520, 1
MAGIC_UINT32, VERSION_UINT32 = 20240801, 7
GPTKIT_MAGIC = 0x6B747067  # b"gptk" read as a little-endian int32
GPTKIT_HEADER_VERSION = 1
MAX_SHARD_TOKENS = 2**31 - 1  # h[2] is an int32
INDEX_SUFFIX = ".idx.npy"

_FORMATS = {  # magic -> (version, dtype)
    MAGIC_UINT16: (VERSION_UINT16, np.dtype("<u2")),
    MAGIC_UINT32: (VERSION_UINT32, np.dtype("<u4")),
}


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocabulary of at most 65,536 ids), else uint32."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


def index_path(bin_path: str | Path) -> Path:
    """``train_00000.bin`` → ``train_00000.idx.npy``."""
    p = Path(bin_path)
    return p.with_name(p.name.removesuffix(".bin") + INDEX_SUFFIX)


@dataclass(frozen=True)
class ShardHeader:
    """What a token shard's header says about it."""

    n_tokens: int
    dtype: np.dtype
    vocab_size: int | None = None  # None for a plain llm.c file
    eot_id: int | None = None
    n_docs: int | None = None

    @property
    def nbytes(self) -> int:
        """The exact size the file must have."""
        return HEADER_BYTES + self.n_tokens * self.dtype.itemsize


def make_header(n_tokens: int, dtype: np.dtype, vocab_size: int, eot_id: int, n_docs: int) -> np.ndarray:
    """The 256-int32 header of a shard (llm.c's first three ints, then gptkit's)."""
    if not 0 <= n_tokens <= MAX_SHARD_TOKENS:
        raise ValueError(f"a shard holds at most {MAX_SHARD_TOKENS} tokens, got {n_tokens}")
    magic = MAGIC_UINT16 if np.dtype(dtype).itemsize == 2 else MAGIC_UINT32
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:8] = [magic, _FORMATS[magic][0], n_tokens, GPTKIT_MAGIC, GPTKIT_HEADER_VERSION, vocab_size, eot_id, n_docs]
    return header


def read_header(path: str | Path) -> ShardHeader:
    """Read and check a shard's header and size; a bad or truncated file is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("token shard not found", path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise InputError(f"truncated token shard: {size} bytes, shorter than the {HEADER_BYTES}-byte header", path)
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    magic, version, n_tokens = (int(v) for v in header[:3])
    if magic not in _FORMATS:
        raise InputError(f"not a token shard: magic {magic} (expected {MAGIC_UINT16} or {MAGIC_UINT32})", path)
    expected_version, dtype = _FORMATS[magic]
    if version != expected_version:
        raise InputError(f"unsupported token shard version {version} for magic {magic} (expected {expected_version})", path)
    info = ShardHeader(n_tokens, dtype)
    if header[3] == GPTKIT_MAGIC:
        info = ShardHeader(n_tokens, dtype, int(header[5]), int(header[6]), int(header[7]))
    if size != info.nbytes:
        what = "truncated" if size < info.nbytes else "oversized"
        raise InputError(
            f"{what} token shard: {size} bytes, header says {n_tokens} tokens = {info.nbytes} bytes", path
        )
    return info


@dataclass
class TokenShard:
    """An opened shard: ``tokens`` is a read-only memmap (or array), ``doc_ends`` may be None."""

    path: Path
    header: ShardHeader
    tokens: np.ndarray
    doc_ends: np.ndarray | None

    def documents(self) -> list[np.ndarray]:
        """Each document's tokens, ``<|endoftext|>`` included (needs the index)."""
        if self.doc_ends is None:
            raise InputError(f"no document index ({index_path(self.path).name})", self.path)
        starts = np.concatenate([[0], self.doc_ends[:-1]])
        return [self.tokens[a:b] for a, b in zip(starts, self.doc_ends, strict=True)]


def read_token_shard(path: str | Path, mmap: bool = True, index: bool = True) -> TokenShard:
    """Open a shard after checking its header and size; load its document index if present
    (and ``index``: the training loader does not need it)."""
    path = Path(path)
    header = read_header(path)
    if mmap and header.n_tokens:
        tokens = np.memmap(path, dtype=header.dtype, mode="r", offset=HEADER_BYTES, shape=(header.n_tokens,))
    else:
        tokens = np.fromfile(path, dtype=header.dtype, offset=HEADER_BYTES, count=header.n_tokens)
    return TokenShard(path, header, tokens, read_doc_ends(path, header) if index else None)


def read_doc_ends(bin_path: str | Path, header: ShardHeader | None = None) -> np.ndarray | None:
    """The shard's cumulative document ends, checked against its header; None when absent."""
    idx = index_path(bin_path)
    if not idx.is_file():
        return None
    try:
        ends = np.load(idx, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"corrupt document index: {e}", idx) from None
    if header is not None:
        bad = ends.ndim != 1 or (len(ends) and (int(ends[-1]) != header.n_tokens or np.any(np.diff(ends) <= 0)))
        if bad or (header.n_docs is not None and len(ends) != header.n_docs):
            raise InputError(f"document index does not match {Path(bin_path).name}", idx)
    return ends


class TokenShardWriter:
    """Stream tokens into one shard: ``with TokenShardWriter(path, ...) as w: w.add_document(ids)``.

    Tokens go to a temporary file behind a placeholder header; on a clean exit the header is
    filled in, the index is written, and both files are renamed into place (index first, so a
    ``.bin`` under its final name always has its index).
    """

    def __init__(self, path: str | Path, vocab_size: int, eot_id: int, dtype: np.dtype | None = None):
        self.path = Path(path)
        self.vocab_size = vocab_size
        self.eot_id = eot_id
        self.dtype = np.dtype(dtype) if dtype is not None else dtype_for_vocab(vocab_size)
        self.n_tokens = 0
        self.doc_ends = array("q")  # int64, 8 bytes per document

    def __enter__(self) -> TokenShardWriter:
        self._ctx = atomic_path(self.path)
        self._file = open(self._ctx.__enter__(), "wb")  # noqa: SIM115 - closed in __exit__
        self._file.write(b"\0" * HEADER_BYTES)
        return self

    @property
    def n_docs(self) -> int:
        return len(self.doc_ends)

    def add_document(self, tokens: np.ndarray | list[int]) -> None:
        """Append one document's tokens (its ``<|endoftext|>`` included by the caller)."""
        self.add_documents(np.asarray(tokens), [len(tokens)])

    def add_documents(self, tokens: np.ndarray, lengths: list[int] | np.ndarray) -> None:
        """Append several documents at once: ``tokens`` is their concatenation."""
        arr = np.asarray(tokens)
        if arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        if self.n_tokens + len(arr) > MAX_SHARD_TOKENS:
            raise ValueError(f"{self.path.name}: a shard holds at most {MAX_SHARD_TOKENS} tokens")
        self._file.write(arr.tobytes())
        ends = self.n_tokens + np.cumsum(np.asarray(lengths, dtype=np.int64))
        self.doc_ends.frombytes(ends.tobytes())
        self.n_tokens += len(arr)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._file.close()
            self._ctx.__exit__(exc_type, exc, tb)
            return
        try:
            self._file.seek(0)
            self._file.write(make_header(self.n_tokens, self.dtype, self.vocab_size, self.eot_id, self.n_docs).tobytes())
            self._file.close()
            with atomic_path(index_path(self.path)) as tmp, open(tmp, "wb") as f:
                np.save(f, np.frombuffer(self.doc_ends, dtype=np.int64), allow_pickle=False)
        except BaseException as e:
            self._file.close()
            self._ctx.__exit__(type(e), e, e.__traceback__)
            raise
        self._ctx.__exit__(None, None, None)


def write_token_shard(
    path: str | Path,
    documents: list[list[int]] | list[np.ndarray],
    vocab_size: int,
    eot_id: int,
    dtype: np.dtype | None = None,
) -> ShardHeader:
    """Write a whole shard from a list of documents (each with its ``<|endoftext|>``) at once."""
    with TokenShardWriter(path, vocab_size, eot_id, dtype) as w:
        for doc in documents:
            w.add_document(doc)
    return ShardHeader(w.n_tokens, w.dtype, vocab_size, eot_id, w.n_docs)
