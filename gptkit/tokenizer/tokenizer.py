"""A byte-level BPE tokenizer: one vocabulary, two engines (tiktoken for speed, HF as reference).

:class:`Tokenizer` holds the model itself — token bytes and ids, the ordered merges, the special
tokens — whatever files it came from. ``encode``/``encode_batch`` run on a ``tiktoken.Encoding``
built from these merges (ranks = ids, GPT-2 regex), which gives the same ids as HF ``tokenizers``
whenever merge ``i`` creates a new token whose id grows with ``i`` (true for GPT-2 and for
everything ``gptkit tokenizer train`` writes); otherwise it falls back to HF ``tokenizers``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson

from gptkit.io.atomic import atomic_path, atomic_write_json, atomic_write_text
from gptkit.io.hashing import hash_bytes
from gptkit.tokenizer.bytes_unicode import to_unicode

EOT = "<|endoftext|>"

#: GPT-2's pre-tokenisation regex (the one HF ``ByteLevel(use_regex=True)`` applies too).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: Files :meth:`Tokenizer.save` writes.
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")


class Tokenizer:
    """Byte-level BPE with GPT-2 pre-tokenisation.

    ``ranks`` maps the bytes of every ordinary token to its id, ``merges`` lists the merged
    pairs in priority order, ``specials`` maps special strings (``<|endoftext|>``) to ids.
    """

    def __init__(
        self, ranks: dict[bytes, int], merges: Sequence[tuple[bytes, bytes]], specials: dict[str, int],
        name: str = "bpe",
    ):  # fmt: skip
        self.ranks = ranks
        self.merges = list(merges)
        self.specials = dict(sorted(specials.items(), key=lambda kv: kv[1]))
        self.name = name
        #: Keys merged into ``tokenizer_config.json`` on save (a chat template and its end-of-turn token).
        self.extra_config: dict[str, Any] = {}
        self.engine: Literal["tiktoken", "hf"] = "tiktoken" if merges_follow_ids(ranks, self.merges) else "hf"

    # -- identity ----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids (largest id + 1), specials included: 50,257 for GPT-2."""
        return 1 + max(max(self.ranks.values()), max(self.specials.values(), default=-1))

    @property
    def eot_id(self) -> int:
        """Id of ``<|endoftext|>`` (or of the first special token if there is none)."""
        if EOT in self.specials:
            return self.specials[EOT]
        if not self.specials:
            raise ValueError("this tokenizer has no special tokens, so no end-of-text id")
        return next(iter(self.specials.values()))

    @cached_property
    def hash(self) -> str:
        """Content hash of vocabulary, merges and specials: equal for every copy and file format."""
        canon = {
            "pattern": GPT2_PATTERN,
            "vocab": sorted((i, b.hex()) for b, i in self.ranks.items()),
            "merges": [(a.hex(), b.hex()) for a, b in self.merges],
            "specials": sorted(self.specials.items()),
        }
        return hash_bytes(orjson.dumps(canon))

    def __repr__(self) -> str:
        return (
            f"Tokenizer({self.name!r}, vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"specials={list(self.specials)}, engine={self.engine!r})"
        )

    def with_specials(self, tokens: Sequence[str]) -> Tokenizer:
        """A copy with ``tokens`` added as special tokens after the last id (those it has already
        keep their ids). The model's embedding must grow with it: see
        :func:`gptkit.model.vocab.add_special_tokens`, which does both."""
        specials = dict(self.specials)
        for token in tokens:
            if token not in specials:
                specials[token] = 1 + max(max(self.ranks.values()), *specials.values())
        tok = Tokenizer(self.ranks, self.merges, specials, self.name)
        tok.extra_config = dict(self.extra_config)
        return tok

    # -- engines -----------------------------------------------------------------------------
    @cached_property
    def tiktoken(self):
        """A ``tiktoken.Encoding`` with the same merges (ranks = ids) and specials."""
        import tiktoken

        return tiktoken.Encoding(
            name=self.name, pat_str=GPT2_PATTERN, mergeable_ranks=self.ranks, special_tokens=self.specials
        )

    @cached_property
    def hf(self):
        """The reference HF ``tokenizers.Tokenizer`` (specials split out, as in ``tokenizer.json``)."""
        from tokenizers import AddedToken

        tok = self._new_hf()
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in self.specials])
        return tok

    @cached_property
    def hf_ordinary(self):
        """HF tokenizer without added specials: the reference for ordinary encoding."""
        return self._new_hf()

    def _new_hf(self):
        """An HF tokenizer on the shared BPE model, with GPT-2's byte-level pieces."""
        from tokenizers import Tokenizer, decoders, pre_tokenizers, processors

        tok = Tokenizer(self._hf_model)
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        return tok

    @cached_property
    def _hf_model(self):
        """One HF BPE model for both HF tokenizers (building it from 50k merges takes ~0.1 s)."""
        from tokenizers import models

        return models.BPE(vocab=self._unicode_vocab, merges=self._unicode_merges, fuse_unk=False)

    @cached_property
    def _unicode_vocab(self) -> dict[str, int]:
        """Every token as HF and GPT-2 files write it: ordinary tokens as byte-level strings
        (``Ġthe``), then the specials as they are."""
        return {to_unicode(b): i for b, i in self.ranks.items()} | self.specials

    @cached_property
    def _unicode_merges(self) -> list[tuple[str, str]]:
        return [(to_unicode(a), to_unicode(b)) for a, b in self.merges]

    # -- encoding ----------------------------------------------------------------------------
    def encode(self, text: str, allowed_special: Literal["all"] | frozenset[str] | set[str] = frozenset()) -> list[int]:
        """Ids of ``text``. By default special strings are plain text (``encode_ordinary``);
        with ``allowed_special="all"`` they become their special ids (as HF ``tokenizer.json``)."""
        if self.engine == "tiktoken":
            if not allowed_special:
                return self.tiktoken.encode_ordinary(text)
            return self.tiktoken.encode(text, allowed_special=allowed_special, disallowed_special=())
        if not allowed_special:
            return self.hf_ordinary.encode(text, add_special_tokens=False).ids
        if allowed_special != "all":
            raise ValueError("the HF engine supports allowed_special='all' or nothing")
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str], num_threads: int | None = None) -> list[list[int]]:
        """Ordinary ids of many texts, on ``num_threads`` threads (default: all cores)."""
        threads = num_threads or os.cpu_count() or 1
        if self.engine == "tiktoken":
            return self.tiktoken.encode_ordinary_batch(list(texts), num_threads=threads)
        return [e.ids for e in self.hf_ordinary.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; bytes that do not form valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        return self.tiktoken.decode_bytes(list(ids))

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one id stands for (a special's string for a special id)."""
        return self.tiktoken.decode_single_token_bytes(token_id)

    # -- files -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer.json`` (HF), GPT-2-style ``vocab.json`` + ``merges.txt`` and a
        ``tokenizer_config.json`` so that ``transformers.AutoTokenizer`` loads the directory, and
        tiktoken's files (see :meth:`save_tiktoken`)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "tokenizer.json") as tmp:
            self.hf.save(str(tmp))
        atomic_write_json(directory / "vocab.json", dict(sorted(self._unicode_vocab.items(), key=lambda kv: kv[1])))
        lines = "".join(f"{a} {b}\n" for a, b in self._unicode_merges)
        atomic_write_text(directory / "merges.txt", "#version: 0.2\n" + lines)
        eot = EOT if EOT in self.specials else next(iter(self.specials), None)
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": eot, "eos_token": eot, "unk_token": eot,
            "add_prefix_space": False, "clean_up_tokenization_spaces": False,
            "model_max_length": 1024,
            **self.extra_config,
        }  # fmt: skip
        atomic_write_json(directory / "tokenizer_config.json", config)
        if self.engine == "tiktoken":
            self.save_tiktoken(directory)
        return directory

    def save_tiktoken(self, directory: Path) -> None:
        """``tokenizer.tiktoken`` (ranks: base64 token bytes and id per line, what
        ``tiktoken.load.load_tiktoken_bpe`` reads) and ``tiktoken.json`` (the split regex and the
        specials), the two things ``tiktoken.Encoding`` needs besides a name. Only for a vocabulary
        whose ids are tiktoken's ranks (:func:`merges_follow_ids`)."""
        lines = "".join(f"{base64.b64encode(token).decode()} {rank}\n" for token, rank in self.ranks.items())
        atomic_write_text(directory / "tokenizer.tiktoken", lines)
        spec = {"name": self.name, "pat_str": GPT2_PATTERN, "special_tokens": self.specials}
        atomic_write_json(directory / "tiktoken.json", spec)


def merges_follow_ids(ranks: dict[bytes, int], merges: Sequence[tuple[bytes, bytes]]) -> bool:
    """True when tiktoken's rule (merge the adjacent pair whose concatenation has the lowest id)
    equals the merge order: each merge makes a new token, with ids increasing along the list."""
    last = -1
    for a, b in merges:
        rank = ranks.get(a + b)
        if rank is None or rank <= last:
            return False
        last = rank
    return True
