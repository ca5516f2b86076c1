"""Content hashes of files, as ``"algo:hexdigest"`` strings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import xxhash

DEFAULT_ALGO = "xxh3_128"
_CHUNK = 1 << 20


def _new(algo: str):
    if algo == "xxh3_128":
        return xxhash.xxh3_128()
    if algo == "xxh64":
        return xxhash.xxh64()
    return hashlib.new(algo)


def hash_file(path: str | Path, algo: str = DEFAULT_ALGO) -> str:
    """Stream ``path`` through ``algo`` (xxh3_128, xxh64 or any hashlib name)."""
    h = _new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return f"{algo}:{h.hexdigest()}"


def hash_bytes(data: bytes, algo: str = DEFAULT_ALGO) -> str:
    h = _new(algo)
    h.update(data)
    return f"{algo}:{h.hexdigest()}"


def check_file(path: str | Path, expected: str) -> bool:
    """True when the file's hash equals ``expected`` (whose prefix names the algorithm)."""
    algo, _, _ = expected.partition(":")
    return hash_file(path, algo) == expected
