"""Token shard format: llm.c-compatible header, sidecar index, truncation detected."""

import numpy as np
import pytest

from gptkit.errors import InputError
from gptkit.pack.format import (
    HEADER_BYTES,
    TokenShardWriter,
    index_path,
    read_header,
    read_token_shard,
    write_token_shard,
)


def test_uint16_shard_is_llmc_compatible(tmp_path):
    path = tmp_path / "train_00000.bin"
    docs = [[5, 6, 7, 50256], [8, 50256], [50256]]
    write_token_shard(path, docs, vocab_size=50257, eot_id=50256)
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[:3].tolist() == [20240520, 1, 7]
    assert path.stat().st_size == HEADER_BYTES + 7 * 2
    # the documented numpy one-liner
    tokens = np.memmap(path, dtype=np.uint16, mode="r", offset=1024)
    assert tokens.tolist() == [5, 6, 7, 50256, 8, 50256, 50256]
    shard = read_token_shard(path)
    assert shard.header.vocab_size == 50257 and shard.header.eot_id == 50256 and shard.header.n_docs == 3
    assert shard.doc_ends.tolist() == [4, 6, 7]
    assert [d.tolist() for d in shard.documents()] == docs


def test_uint32_for_large_vocab(tmp_path):
    path = tmp_path / "a.bin"
    write_token_shard(path, [[70000, 1, 99999]], vocab_size=100000, eot_id=99999)
    header = read_header(path)
    assert np.fromfile(path, dtype="<i4", count=2).tolist() == [20240801, 7]
    assert header.dtype == np.uint32 and read_token_shard(path).tokens.tolist() == [70000, 1, 99999]


def test_truncated_and_foreign_files_are_one_line_errors(tmp_path):
    path = tmp_path / "t.bin"
    write_token_shard(path, [list(range(100))], vocab_size=200, eot_id=99)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(InputError, match=r"t.bin: truncated token shard: 1214 bytes, header says 100 tokens = 1224") as e:
        read_token_shard(path)
    assert "\n" not in str(e.value)
    path.write_bytes(data[:500])
    with pytest.raises(InputError, match="shorter than the 1024-byte header"):
        read_header(path)
    path.write_bytes(b"x" * 2000)
    with pytest.raises(InputError, match="not a token shard"):
        read_header(path)


def test_index_must_match(tmp_path):
    path = tmp_path / "i.bin"
    write_token_shard(path, [[1, 2, 0], [3, 0]], vocab_size=10, eot_id=0)
    np.save(index_path(path), np.array([3, 4]))
    with pytest.raises(InputError, match="document index does not match"):
        read_token_shard(path)


def test_writer_failure_leaves_nothing(tmp_path):
    path = tmp_path / "f.bin"
    with pytest.raises(RuntimeError), TokenShardWriter(path, vocab_size=10, eot_id=0) as w:
        w.add_document([1, 2, 0])
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_inspect_a_directory_without_manifest(tmp_path):
    from gptkit.pack.inspect import inspect_tokens

    write_token_shard(tmp_path / "train_00000.bin", [[1, 2, 9], [3, 9]], vocab_size=10, eot_id=9)
    write_token_shard(tmp_path / "val_00000.bin", [[4, 5, 6, 9]], vocab_size=10, eot_id=9)
    report = inspect_tokens(tmp_path)
    assert report.problems == [] and report.samples == []
    assert (report.splits["train"].tokens, report.splits["train"].documents) == (5, 2)
    assert report.meta["vocab_size"] == 10 and report.meta["dtype"] == "uint16"
    write_token_shard(tmp_path / "val_00000.bin", [[4, 12, 6]], vocab_size=10, eot_id=9)
    problems = inspect_tokens(tmp_path).problems
    assert any("token id 12 >= vocab_size 10" in p for p in problems)
    assert any("do not end with <|endoftext|>" in p for p in problems)
