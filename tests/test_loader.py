"""TokenLoader: epoch coverage, disjoint ranks, exact resume in a new process (also with
gradient accumulation and several ranks), nanoGPT-style random offsets, document positions."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from gptkit.errors import InputError, UsageError
from gptkit.pack.format import write_token_shard
from gptkit.pack.loader import TokenLoader, document_positions

VOCAB = 1 << 20  # uint32 shards: token values can be their own positions


def _make_dir(tmp_path, lengths=(1000, 777, 1301), split="train"):
    """Shards whose token at global position i is i: a window's first token says where it is."""
    d = tmp_path / "tokens"
    start = 0
    for k, n in enumerate(lengths):
        write_token_shard(d / f"{split}_{k:05d}.bin", [np.arange(start, start + n)], VOCAB, eot_id=VOCAB - 1)
        start += n
    return d


def _batches(loader, n, with_positions=False):
    return [loader.next_batch(with_positions) for _ in range(n)]


def test_batch_shapes_and_shift(tmp_path):
    loader = TokenLoader(_make_dir(tmp_path), block_size=16, batch_size=4)
    x, y = loader.next_batch()
    assert x.shape == y.shape == (4, 16) and x.dtype == y.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1]) and np.array_equal(y[:, -1], x[:, -1] + 1)
    assert loader.meta["vocab_size"] == VOCAB and loader.meta["dtype"] == "uint32"


def test_epoch_visits_every_window_once_and_reshuffles(tmp_path):
    lengths = (1000, 777, 1301)
    loader = TokenLoader(_make_dir(tmp_path, lengths), block_size=16, batch_size=5)
    expected = []
    offset = 0
    for n in lengths:
        expected += [offset + 16 * k for k in range((n - 1) // 16)]
        offset += n
    assert loader.windows_per_epoch == len(expected)
    n_batches = len(expected) // 5
    firsts = np.concatenate([x[:, 0] for x, _ in _batches(loader, n_batches)])
    tail = loader.windows_per_epoch - len(firsts)
    x, _ = loader.next_batch()  # straddles into epoch 1
    epoch0 = np.concatenate([firsts, x[:tail, 0]])
    assert sorted(epoch0.tolist()) == expected
    assert epoch0.tolist() != expected  # shuffled
    assert loader.epoch == 1
    epoch1 = np.concatenate([x[tail:, 0]] + [b[0][:, 0] for b in _batches(loader, n_batches)])
    assert epoch1[: len(expected) - tail].tolist() != epoch0[tail:].tolist()


def test_ranks_take_disjoint_slices(tmp_path):
    d = _make_dir(tmp_path)
    ranks = [TokenLoader(d, block_size=16, batch_size=3, rank=r, world_size=2) for r in range(2)]
    single = TokenLoader(d, block_size=16, batch_size=6)
    steps = single.windows_per_epoch // 6
    seen = [np.concatenate([x[:, 0] for x, _ in _batches(loader, steps)]) for loader in ranks]
    assert not set(seen[0]) & set(seen[1])
    both = np.concatenate([x[:, 0] for x, _ in _batches(single, steps)])
    assert sorted(np.concatenate(seen).tolist()) == sorted(both.tolist())  # same windows, split


_RESUME_SCRIPT = """
import json, sys
import numpy as np
from gptkit.pack.loader import TokenLoader
args = json.loads(sys.argv[1])
out = {}
for rank, state in enumerate(args["states"]):
    loader = TokenLoader(args["dir"], block_size=16, batch_size=3, rank=rank, world_size=len(args["states"]),
                         sampler=args["sampler"], seed=999)  # the seed comes from the state
    loader.load_state_dict(json.loads(state))
    out[rank] = [loader.next_batch()[0].tolist() for _ in range(args["n"])]
print(json.dumps(out))
"""


@pytest.mark.parametrize("sampler", ["epoch", "random"])
@pytest.mark.parametrize("world_size", [1, 2])
def test_resume_in_new_process_is_exact(tmp_path, sampler, world_size):
    """Train 5 optimiser steps of 4 accumulated micro-batches, save, and continue elsewhere:
    the new process yields exactly the micro-batches the original yields next."""
    d = _make_dir(tmp_path)
    loaders = [
        TokenLoader(d, block_size=16, batch_size=3, rank=r, world_size=world_size, sampler=sampler, seed=7)
        for r in range(world_size)
    ]
    accum, steps, n_next = 4, 5, 50  # 50 more micro-batches cross an epoch boundary
    seen_before = set()
    for _ in range(steps * accum):
        for loader in loaders:
            seen_before.update(loader.next_batch()[0][:, 0].tolist())
    states = [json.dumps(loader.state_dict()) for loader in loaders]
    expected = {str(r): [loader.next_batch()[0].tolist() for _ in range(n_next)] for r, loader in enumerate(loaders)}

    args = json.dumps({"dir": str(d), "states": states, "sampler": sampler, "n": n_next})
    proc = subprocess.run(
        [sys.executable, "-c", _RESUME_SCRIPT, args], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert json.loads(proc.stdout) == expected

    if sampler == "epoch":  # no replay: until the epoch ends, every window after the resume point is new
        calls_left = min(n_next, (loaders[0].windows_per_epoch - len(seen_before)) // (3 * world_size))
        after = [row[0] for r in expected.values() for batch in r[:calls_left] for row in batch]
        assert len(set(after)) == len(after) == calls_left * 3 * world_size
        assert not set(after) & seen_before


def test_state_is_small_json_and_checked(tmp_path):
    d = _make_dir(tmp_path)
    loader = TokenLoader(d, block_size=16, batch_size=3)
    _batches(loader, 7)
    state = json.loads(json.dumps(loader.state_dict()))
    assert state["position"] == 21 and state["step"] == 7 and len(json.dumps(state)) < 300
    with pytest.raises(UsageError, match="block_size"):
        TokenLoader(d, block_size=8, batch_size=3).load_state_dict(state)
    with pytest.raises(UsageError, match="sampler"):
        TokenLoader(d, block_size=16, batch_size=3, sampler="random").load_state_dict(state)


def test_resume_with_more_ranks_does_not_replay(tmp_path):
    d = _make_dir(tmp_path)
    one = TokenLoader(d, block_size=16, batch_size=4)
    seen = {int(v) for x, _ in _batches(one, 10) for v in x[:, 0]}
    state = one.state_dict()
    later = set()
    for rank in range(2):
        loader = TokenLoader(d, block_size=16, batch_size=2, rank=rank, world_size=2)
        loader.load_state_dict(state)
        later |= {int(v) for x, _ in _batches(loader, 5) for v in x[:, 0]}
    assert len(later) == 20 and not later & seen


def test_random_sampler_stays_inside_shards(tmp_path):
    lengths = (40, 17, 100)
    loader = TokenLoader(_make_dir(tmp_path, lengths), block_size=16, batch_size=64, sampler="random")
    bounds = np.cumsum(lengths)
    for x, y in _batches(loader, 5):
        full = np.concatenate([x, y[:, -1:]], axis=1)
        assert np.all(np.diff(full, axis=1) == 1)  # contiguous: never across a shard boundary
        shard_of_first = np.searchsorted(bounds, full[:, 0], side="right")
        shard_of_last = np.searchsorted(bounds, full[:, -1], side="right")
        assert np.array_equal(shard_of_first, shard_of_last)


def test_document_positions(tmp_path):
    eot = 9
    x = np.array([[1, 2, eot, 3, 4, 5, eot, eot, 6]])
    assert document_positions(x, eot).tolist() == [[0, 1, 2, 0, 1, 2, 3, 0, 0]]
    d = tmp_path / "tok"
    docs = [[1, 2, 3, eot], [4, eot], [5, 6, 7, 8, 1, 2, eot]] * 10
    write_token_shard(d / "train_00000.bin", docs, vocab_size=10, eot_id=eot)
    loader = TokenLoader(d, block_size=8, batch_size=2)
    x, y, pos = loader.next_batch(with_positions=True)
    assert np.array_equal(pos, document_positions(x, eot)) and pos.shape == x.shape


def test_missing_and_too_small_splits(tmp_path):
    d = _make_dir(tmp_path, (10,))
    with pytest.raises(InputError, match="no 'val_"):
        TokenLoader(d, split="val", block_size=4)
    with pytest.raises(InputError, match="too few"):
        TokenLoader(d, block_size=16)
