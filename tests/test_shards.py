"""Document shards: round trip, `datasets` interop, bad input reported and skipped."""

import gzip

import orjson
import pytest
import zstandard

from gptkit.errors import InputError
from gptkit.io.shards import IssueLog, RotatingShardWriter, expand_inputs, iter_documents, write_documents


def _docs(n):
    return [{"id": f"d{i}", "text": f"text {i} – ünïcode 🚀", "metadata": {"url": f"http://x/{i}"}} for i in range(n)]


def test_round_trip_and_datasets(tmp_path):
    path = tmp_path / "00000.jsonl.zst"
    write_documents(path, _docs(20))
    assert list(iter_documents(path)) == _docs(20)

    import datasets

    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.num_rows == 20 and ds[3]["text"] == _docs(20)[3]["text"]


def test_rotating_writer(tmp_path):
    with RotatingShardWriter(tmp_path, max_docs=7) as w:
        for d in _docs(20):
            w.write(d)
    assert [p.name for p, _ in w.written] == ["00000.jsonl.zst", "00001.jsonl.zst", "00002.jsonl.zst"]
    assert [n for _, n in w.written] == [7, 7, 6]


def test_bad_lines_are_reported_with_line_and_skipped(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        orjson.dumps({"id": "a", "text": "good 1"}),
        b"{not json",
        orjson.dumps({"id": "b"}),  # missing text
        b'{"id": "c", "text": "bad \xff\xfe bytes"}',
        b"[1, 2]",
        orjson.dumps({"text": "good 2", "url": "u"}),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    log = IssueLog()
    docs = list(iter_documents(path, log))
    assert [d["text"] for d in docs] == ["good 1", "good 2"]
    assert docs[1]["id"] == "bad.jsonl/6" and docs[1]["metadata"]["url"] == "u"
    assert [i.line for i in log.examples] == [2, 3, 4, 5]
    assert log.counts["invalid JSON"] == 1 and log.counts["missing 'text'"] == 1
    assert log.counts["invalid UTF-8"] == 1
    with pytest.raises(InputError, match=r"bad.jsonl:2: invalid JSON"):
        list(iter_documents(path))  # default: raise on the first issue


def test_truncated_zstd_keeps_the_good_part(tmp_path):
    path = tmp_path / "t.jsonl.zst"
    write_documents(path, _docs(20000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    log = IssueLog()
    docs = list(iter_documents(path, log))
    assert 0 < len(docs) < 20000
    assert log.total == 1 and "corrupt or truncated" in log.examples[0].reason
    assert log.examples[0].line == len(docs) + 1


def test_gzip_and_plain_text_inputs(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b'{"text": "from gzip"}\n')
    txt = tmp_path / "b.txt"
    txt.write_text("plain text file")
    assert [d["text"] for d in iter_documents(gz)] == ["from gzip"]
    assert [d["text"] for d in iter_documents(txt)] == ["plain text file"]


def test_expand_inputs(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("b.jsonl.zst", "a.jsonl.zst", ".hidden.jsonl.zst", "x.txt"):
        (tmp_path / "d" / name).write_bytes(zstandard.ZstdCompressor().compress(b""))
    found = expand_inputs([tmp_path / "d"], (".jsonl.zst",))
    assert [p.name for p in found] == ["a.jsonl.zst", "b.jsonl.zst"]
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([tmp_path / "missing"])
