"""The training data loader: batches of ``block_size + 1``-token windows, exactly resumable.

Two samplers:

- ``"epoch"`` (default): every epoch visits each window once. Windows start at multiples of
  ``block_size`` inside a shard, so their inputs are disjoint and every token but a shard's first
  is a target exactly once (llm.c's layout). The order is a permutation of the shards, then a
  permutation of the windows inside each shard, both drawn from ``(seed, epoch)``. Each
  ``next_batch`` call consumes ``world_size * batch_size`` windows of that order and rank ``r``
  takes the ``r``-th slice of ``batch_size``, so ranks never see the same window.
- ``"random"``: nanoGPT's random offsets (any start, with replacement), drawn from
  ``(seed, step, rank)``.

Both are functions of a few counters, so :meth:`TokenLoader.state_dict` is a small dict and a
loader restored from it in another process yields exactly the batches the original would have
yielded next: nothing is replayed or skipped, whatever the number of ``next_batch`` calls per
optimiser step (gradient accumulation). The epoch position counts windows, not calls, so a run
may even resume with another batch size or number of ranks without seeing a window twice.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gptkit.errors import InputError, UsageError
from gptkit.io.manifest import MANIFEST, read_manifest
from gptkit.pack.format import TokenShard, read_token_shard

Sampler = Literal["epoch", "random"]
STATE_VERSION = 1


def shard_paths(data_dir: str | Path, split: str) -> list[Path]:
    """The token shards of ``split`` (``train_00000.bin``, …) in name order."""
    return sorted(Path(data_dir).glob(f"{split}_[0-9]*.bin"))


def read_meta(data_dir: str | Path, shards: list[TokenShard]) -> dict[str, Any]:
    """vocab_size, eot_id, tokenizer_hash, dtype: from the pack manifest, else the shard headers."""
    meta: dict[str, Any] = {"vocab_size": None, "eot_id": None, "tokenizer_hash": None, "dtype": None}
    if (Path(data_dir) / MANIFEST).is_file():
        data = read_manifest(data_dir)
        meta.update({k: data[k] for k in meta if k in data})
    if shards:
        h = shards[0].header
        meta["dtype"] = meta["dtype"] or h.dtype.name
        meta["vocab_size"] = meta["vocab_size"] if meta["vocab_size"] is not None else h.vocab_size
        meta["eot_id"] = meta["eot_id"] if meta["eot_id"] is not None else h.eot_id
    return meta


def document_positions(x: np.ndarray, eot_id: int) -> np.ndarray:
    """Position ids that restart at 0 after every ``<|endoftext|>`` (same shape as ``x``).

    A model can use them as position ids, or mask attention between tokens whose positions do
    not belong to the same run (``pos[j] > pos[i] - (i - j)`` fails across a reset).
    """
    t = np.arange(x.shape[-1])
    reset = np.zeros(x.shape, dtype=bool)
    reset[..., 1:] = x[..., :-1] == eot_id
    starts = np.maximum.accumulate(np.where(reset, t, 0), axis=-1)
    return t - starts


class TokenLoader:
    """Batches ``(x, y)`` of int64 arrays of shape ``(batch_size, block_size)``; ``y`` is ``x``
    shifted by one token. See the module docstring for the samplers."""

    def __init__(
        self,
        data_dir: str | Path,
        split: str = "train",
        block_size: int = 1024,
        batch_size: int = 8,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 1337,
        sampler: Sampler = "epoch",
    ):
        if block_size < 1 or batch_size < 1:
            raise UsageError(f"block_size and batch_size must be positive (got {block_size}, {batch_size})")
        if not 0 <= rank < world_size:
            raise UsageError(f"rank {rank} is not in 0..{world_size - 1}")
        if sampler not in ("epoch", "random"):
            raise UsageError(f"unknown sampler {sampler!r} (expected 'epoch' or 'random')")
        self.data_dir = Path(data_dir)
        self.split = split
        self.block_size = block_size
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.sampler = sampler
        paths = shard_paths(self.data_dir, split)
        if not paths:
            raise InputError(f"no '{split}_*.bin' token shards (pack a corpus with 'gptkit data pack')", self.data_dir)
        self.shards = [read_token_shard(p, index=False) for p in paths]
        self.meta = read_meta(self.data_dir, self.shards)
        lengths = np.array([s.header.n_tokens for s in self.shards], dtype=np.int64)
        self.n_tokens = int(lengths.sum())
        # epoch sampler: windows start at k * block_size and need block_size + 1 tokens
        self._windows = np.maximum(lengths - 1, 0) // block_size
        # random sampler: any start with block_size + 1 tokens after it
        self._starts = np.maximum(lengths - block_size, 0)
        self.windows_per_epoch = int(self._windows.sum())
        if self.windows_per_epoch == 0:
            raise InputError(
                f"split '{split}' has {self.n_tokens} tokens, too few for one window of block_size + 1 = "
                f"{block_size + 1} tokens",
                self.data_dir,
            )
        self.epoch = 0
        self.position = 0  # windows of this epoch consumed by all ranks together
        self.step = 0  # next_batch calls so far
        self._perms: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    # -- state -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-serialisable dict; :meth:`load_state_dict` continues exactly from it."""
        return {
            "version": STATE_VERSION,
            "split": self.split,
            "sampler": self.sampler,
            "seed": self.seed,
            "block_size": self.block_size,
            "n_tokens": self.n_tokens,
            "epoch": self.epoch,
            "position": self.position,
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; refuses a state from another split, sampler, block size or data."""
        for key in ("split", "sampler", "block_size", "n_tokens"):
            if state.get(key) != getattr(self, key):
                raise UsageError(
                    f"cannot resume the data loader: saved {key} {state.get(key)!r} != current {getattr(self, key)!r}"
                )
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.step = int(state["step"])
        self._perms.clear()

    # -- batches -----------------------------------------------------------------------------

    def next_batch(self, with_positions: bool = False) -> tuple[np.ndarray, ...]:
        """The next ``(x, y)`` of this rank, or ``(x, y, positions)`` with ``with_positions``
        (position ids restarting after each ``<|endoftext|>``, see :func:`document_positions`)."""
        windows = self._epoch_windows() if self.sampler == "epoch" else self._random_windows()
        self.step += 1
        buf = np.empty((self.batch_size, self.block_size + 1), dtype=np.int64)
        for row, (shard, start) in enumerate(windows):
            buf[row] = self.shards[shard].tokens[start : start + self.block_size + 1]
        x, y = buf[:, :-1], buf[:, 1:]
        if with_positions:
            return x, y, document_positions(x, self.meta["eot_id"] if self.meta["eot_id"] is not None else -1)
        return x, y

    def __iter__(self):
        while True:
            yield self.next_batch()

    def _epoch_windows(self) -> list[tuple[int, int]]:
        first = self.position + self.rank * self.batch_size
        out = [self._window(self.epoch, first + i) for i in range(self.batch_size)]
        self.epoch, self.position = self._normalise(self.epoch, self.position + self.world_size * self.batch_size)
        return out

    def _normalise(self, epoch: int, position: int) -> tuple[int, int]:
        return epoch + position // self.windows_per_epoch, position % self.windows_per_epoch

    def _window(self, epoch: int, position: int) -> tuple[int, int]:
        """(shard, start token) of the ``position``-th window of ``epoch`` (may run past its end)."""
        epoch, position = self._normalise(epoch, position)
        order, ends = self._shard_order(epoch)
        j = int(np.searchsorted(ends, position, side="right"))
        shard = int(order[j])
        local = position - (int(ends[j - 1]) if j else 0)
        return shard, int(self._window_perm(epoch, shard)[local]) * self.block_size

    def _shard_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's shard permutation and the cumulative window counts along it."""
        order = self._cached((epoch, -1), lambda: np.random.default_rng([self.seed, epoch]).permutation(len(self.shards)))
        return order, np.cumsum(self._windows[order])

    def _window_perm(self, epoch: int, shard: int) -> np.ndarray:
        n = int(self._windows[shard])
        return self._cached((epoch, shard), lambda: np.random.default_rng([self.seed, epoch, shard]).permutation(n))

    def _cached(self, key: tuple[int, int], make) -> np.ndarray:
        if key not in self._perms:
            self._perms[key] = make()
            if len(self._perms) > 8:
                self._perms.popitem(last=False)
        return self._perms[key]

    def _random_windows(self) -> list[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.step, self.rank])
        ends = np.cumsum(self._starts)
        picks = rng.integers(0, int(ends[-1]), size=self.batch_size)
        shards = np.searchsorted(ends, picks, side="right")
        before = np.concatenate([[0], ends[:-1]])
        return [(int(s), int(p - before[s])) for s, p in zip(shards, picks, strict=True)]

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size
