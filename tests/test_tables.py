"""Parquet files and `datasets` folders as document input, as FineWeb and most HF datasets ship:
every document-reading stage sees the same documents as from the equivalent JSON lines."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, run_gptkit

from gptkit.io.shards import document_files, iter_documents

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wizards", "quietly", "box", "with", "jolly", "frogs"]


def corpus(n: int = 60) -> list[dict]:
    return [
        {"id": f"d{i}", "text": " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(20 + i % 13)),
         "url": f"https://ex.com/{i}"}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def inputs(tmp_path):
    """The same documents as JSON lines, a parquet file of several row groups, and a datasets folder."""
    import datasets

    docs = corpus()
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(json.dumps(d) + "\n" for d in docs))
    parquet = tmp_path / "docs.parquet"
    pq.write_table(pa.Table.from_pylist(docs), parquet, row_group_size=16)
    folder = tmp_path / "hf"
    datasets.Dataset.from_list(docs).save_to_disk(str(folder))
    return jsonl, parquet, folder


def test_parquet_and_datasets_folder_give_the_jsonl_documents(inputs, tmp_path):
    jsonl, parquet, folder = inputs
    want = list(iter_documents(jsonl))
    assert pq.ParquetFile(parquet).num_row_groups == 4
    assert list(iter_documents(parquet)) == want
    arrow = document_files([folder])
    assert [p.suffix for p in arrow] == [".arrow"]
    assert [d for p in arrow for d in iter_documents(p)] == want


def test_datasets_dict_folder_reads_every_split(tmp_path):
    import datasets

    docs = corpus(10)
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(docs[:6]), "test": datasets.Dataset.from_list(docs[6:])})
    dd.save_to_disk(str(tmp_path / "dd"))
    files = document_files([tmp_path / "dd"])
    assert [d["id"] for p in files for d in iter_documents(p)] == [d["id"] for d in docs]


def test_tokenizer_pack_and_clean_read_parquet_like_jsonl(inputs, tmp_path):
    jsonl, parquet, folder = inputs
    tok = tmp_path / "tok"
    proc = run_gptkit("tokenizer", "train", parquet, "--out", tok, "--merges", "60", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    from_jsonl = run_gptkit("tokenizer", "train", jsonl, "--out", tmp_path / "tok2", "--merges", "60", "--threads", "1")
    assert from_jsonl.returncode == 0, from_jsonl.stderr
    assert (tok / "merges.txt").read_text() == (tmp_path / "tok2" / "merges.txt").read_text()

    counts = {}
    for name, source in (("jsonl", jsonl), ("parquet", parquet), ("hf", folder)):
        out = tmp_path / f"pack-{name}"
        proc = run_gptkit("data", "pack", source, "--tokenizer", tok, "--out", out, "--workers", "1")
        assert proc.returncode == 0, proc.stderr
        counts[name] = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["parquet"] == counts["jsonl"] == counts["hf"]

    clean = run_gptkit("data", "clean", parquet, "--out", tmp_path / "clean", "--workers", "1")
    assert clean.returncode == 0, clean.stderr
    assert "documents" in (tmp_path / "clean" / "stats.json").read_text()


def test_text_key_and_missing_column(tmp_path):
    rows = [{"body": d["text"]} for d in corpus(20)]
    parquet = tmp_path / "body.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    tok = tmp_path / "tok"
    assert run_gptkit("tokenizer", "train", parquet, "--out", tok, "--merges", "20", "--text-key", "body",
                      "--threads", "1").returncode == 0  # fmt: skip
    proc = run_gptkit("-q", "data", "pack", parquet, "--tokenizer", tok, "--out", tmp_path / "p")
    assert_one_line_error(proc, "body.parquet", "no column 'text'", "--text-key")
