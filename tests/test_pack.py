"""gptkit data pack / inspect: round trip, determinism across workers, resume after SIGKILL,
refusing to mix tokenizers, truncation, bad input, the validation split."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, run_gptkit, shared_path

from gptkit.errors import InputError
from gptkit.io.shards import iter_documents, write_documents
from gptkit.pack.config import PackConfig
from gptkit.pack.format import read_token_shard
from gptkit.pack.loader import TokenLoader, shard_paths
from gptkit.pack.pack import pack
from gptkit.tokenizer import EOT, Tokenizer, load_tokenizer


@pytest.fixture(scope="module")
def gpt2():
    return shared_path("tokenizers/gpt2")


def _docs_from_text(text: str, size: int, prefix: str):
    """Cut a real text into documents of about ``size`` characters at line breaks."""
    docs, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line)
        if n >= size:
            docs.append({"id": f"{prefix}{len(docs)}", "text": "".join(cur), "metadata": {}})
            cur, n = [], 0
    if cur:
        docs.append({"id": f"{prefix}{len(docs)}", "text": "".join(cur), "metadata": {}})
    return docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Real web documents, real prose cut into documents, and some awkward ones."""
    d = tmp_path_factory.mktemp("corpus")
    web = shared_path("corpora/web-text/dolma-ccnet-cc_en_head-0091.jsonl.gz")
    shakespeare = shared_path("corpora/tinyshakespeare/input.txt").read_text()[:200_000]
    awkward = [
        {"id": "eot-in-text", "text": f"a literal {EOT} inside a document is plain text", "metadata": {}},
        {"id": "unicode", "text": "ünïcödé, 中文, emoji 🚀🚀 and a tab\tnewline\n", "metadata": {}},
        {"id": "empty", "text": "", "metadata": {}},
        {"id": "blank", "text": "  \n\t ", "metadata": {}},
    ]
    write_documents(d / "00000.jsonl.zst", list(iter_documents(web)))
    write_documents(d / "00001.jsonl.zst", _docs_from_text(shakespeare, 3000, "shakespeare-") + awkward)
    return d


def _pack(corpus, gpt2, out, **kw):
    cfg = PackConfig(inputs=[corpus], out=out, tokenizer=gpt2, workers=1, **{"shard_tokens": 20_000, **kw})
    return pack(cfg)


def _split_tokens(out, split):
    return np.concatenate([read_token_shard(p).tokens for p in shard_paths(out, split)])


def test_round_trip_decodes_to_documents_joined_by_eot(corpus, gpt2, tmp_path):
    out = tmp_path / "tokens"
    summary = _pack(corpus, gpt2, out, val_docs=4)
    docs = [d for f in sorted(corpus.iterdir()) for d in iter_documents(f) if d["text"].strip()]
    val_ids = (out / "val_ids.txt").read_text().split()
    assert len(val_ids) == 4 and summary.documents == {"train": len(docs) - 4, "val": 4}
    assert summary.empty_documents == 2 and summary.shards["train"] >= 3
    tok = load_tokenizer(out / "tokenizer")
    assert tok.hash == load_tokenizer(gpt2).hash
    for split, members in (("train", [d for d in docs if d["id"] not in val_ids]),
                           ("val", [d for d in docs if d["id"] in val_ids])):  # fmt: skip
        tokens = _split_tokens(out, split)
        assert tok.decode(tokens.tolist()) == "".join(d["text"] + EOT for d in members)
        assert int(np.sum(tokens == tok.eot_id)) == len(members)  # the literal EOT text is not the EOT id
        assert tokens[-1] == tok.eot_id
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tokenizer_hash"] == tok.hash and manifest["vocab_size"] == 50257
    assert manifest["eot_id"] == 50256 and manifest["dtype"] == "uint16"
    assert manifest["split"]["val_documents"] == 4 and manifest["split"]["seed"] == 1337
    assert {o["path"] for o in manifest["outputs"]} >= {"train_00000.bin", "train_00000.idx.npy", "val_ids.txt"}
    # the loader reads it, with the pack's metadata
    loader = TokenLoader(out, "val", block_size=32, batch_size=2)
    assert loader.meta["tokenizer_hash"] == tok.hash and loader.meta["eot_id"] == 50256
    # the documented numpy one-liner
    first = np.memmap(out / "train_00000.bin", dtype=np.uint16, mode="r", offset=1024)
    assert np.array_equal(first, read_token_shard(out / "train_00000.bin").tokens)


def test_same_shards_whatever_the_workers(corpus, gpt2, tmp_path):
    hashes = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        proc = run_gptkit("data", "pack", corpus, "--tokenizer", gpt2, "-o", out, "-w", workers, "--shard-tokens", 15000,
                          "--set", "pack.chunk_bytes=20000")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        hashes.append({o["path"]: o["hash"] for o in manifest["outputs"]})
    assert hashes[0] == hashes[1] and len([p for p in hashes[0] if p.endswith(".bin")]) >= 4


def test_split_is_deterministic_from_the_seed(corpus, gpt2, tmp_path):
    ids = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        _pack(corpus, gpt2, tmp_path / name, val_fraction=0.1, seed=seed)
        ids[name] = (tmp_path / name / "val_ids.txt").read_text().split()
    assert ids["a"] == ids["b"] != ids["c"]
    n_docs = json.loads((tmp_path / "a" / "manifest.json").read_text())["split"]["documents"]
    assert len(ids["a"]) == round(0.1 * n_docs)


def test_rerun_is_a_no_op_and_other_tokenizer_is_refused(corpus, gpt2, tmp_path):
    out = tmp_path / "tokens"
    _pack(corpus, gpt2, out)
    before = (out / "train_00000.bin").stat().st_mtime_ns
    assert _pack(corpus, gpt2, out).reused
    assert (out / "train_00000.bin").stat().st_mtime_ns == before

    other = tmp_path / "bytes-tok"
    Tokenizer({bytes([i]): i for i in range(256)}, [], {EOT: 256}).save(other)
    proc = run_gptkit("data", "pack", corpus, "--tokenizer", other, "-o", out, "-w", 1)
    assert_one_line_error(proc, "another tokenizer", "refusing to mix")
    proc = run_gptkit("-q", "data", "pack", corpus, "--tokenizer", gpt2, "-o", out, "--shard-tokens", 999)
    assert_one_line_error(proc, "other settings", "refusing to mix")


def test_truncated_shard_is_detected_and_repaired(corpus, gpt2, tmp_path):
    out = tmp_path / "tokens"
    _pack(corpus, gpt2, out)
    good = (out / "train_00001.bin").read_bytes()
    (out / "train_00001.bin").write_bytes(good[:-100])
    proc = run_gptkit("data", "inspect", out, "--quick")
    assert proc.returncode == 1 and "train_00001.bin: truncated token shard" in proc.stderr
    with pytest.raises(InputError, match="truncated token shard"):
        TokenLoader(out, block_size=8)
    summary = _pack(corpus, gpt2, out)  # a rerun notices and re-encodes from that shard on
    assert not summary.reused and summary.resumed_shards >= 1
    assert (out / "train_00001.bin").read_bytes() == good
    proc = run_gptkit("data", "inspect", out)
    assert proc.returncode == 0, proc.stderr
    assert "hashes match" in proc.stdout and "sample 0" in proc.stdout and "train" in proc.stdout


def test_bad_input_is_counted_or_a_one_line_error(gpt2, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text(
        '{"text": "good one"}\n{broken json\n{"id": "x"}\n{"text": ""}\n{"text": "good two"}\n'
    )
    (src / "b.jsonl").write_text("")
    proc = run_gptkit("data", "pack", src, "--tokenizer", gpt2, "-o", tmp_path / "out", "--val-docs", 0)
    assert proc.returncode == 0, proc.stderr
    assert "b.jsonl: no documents to pack" in proc.stderr and "a.jsonl:2: invalid JSON" in proc.stderr
    counts = json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]
    assert counts["train_documents"] == 2 and counts["empty_documents"] == 1
    assert counts["skipped_records"] == 2 and counts["empty_input_files"] == 1 and counts["val_documents"] == 0

    proc = run_gptkit("-q", "data", "pack", src / "b.jsonl", "--tokenizer", gpt2, "-o", tmp_path / "out2")
    assert_one_line_error(proc, "b.jsonl", "no documents to pack")
    proc = run_gptkit("data", "pack", tmp_path / "missing", "--tokenizer", gpt2, "-o", tmp_path / "out3")
    assert_one_line_error(proc, "missing", "no such file")
    proc = run_gptkit("data", "pack", src, "-o", tmp_path / "out4")
    assert_one_line_error(proc, "--tokenizer")


_KILLABLE = """
import sys
from pathlib import Path
from gptkit.pack.config import PackConfig
from gptkit.pack.pack import pack
src, tok, out = sys.argv[1:4]
pack(PackConfig(inputs=[Path(src)], out=Path(out), tokenizer=Path(tok), workers=1, shard_tokens=10_000,
                chunk_bytes=4_000))
"""


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    """~2.4 MB of WikiText in 2 kB documents: long enough to interrupt a pack."""
    src = tmp_path_factory.mktemp("wiki")
    text = "".join(shared_path(f"corpora/wikitext/{n}").read_text() for n in ("wikitext-2.test.tokens", "wikitext-2.valid.tokens"))
    write_documents(src / "00000.jsonl.zst", _docs_from_text(text, 2000, "wiki-"))
    return src


def _wait_for(path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def test_ctrl_c_stops_with_one_line_and_the_rerun_finishes(wiki, gpt2, tmp_path):
    out = tmp_path / "tokens"
    cmd = [sys.executable, "-m", "gptkit", "-q", "data", "pack", str(wiki), "--tokenizer", str(gpt2), "-o", str(out),
           "-w", "2", "--shard-tokens", "10000"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(out / "completions" / "train_00001.json", proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers included
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["interrupted: rerun the same command to resume"]
    assert not (out / "manifest.json").exists() and not list(out.rglob(".*.tmp-*"))
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_shards"] >= 2


def test_killed_pack_resumes_without_redoing_finished_shards(wiki, gpt2, tmp_path):
    src = wiki
    out = tmp_path / "tokens"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(src), str(gpt2), str(out)], env=env)
    _wait_for(out / "completions" / "train_00002.json", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "manifest.json").exists(), "the pack finished before it could be killed"
    kept = sorted(p.name for p in (out / "completions").glob("train_*.json"))
    stat = {n: (out / n.replace(".json", ".bin")).stat() for n in kept}

    summary = pack(PackConfig(inputs=[src], out=out, tokenizer=gpt2, workers=2, shard_tokens=10_000, chunk_bytes=4_000))
    assert summary.resumed_shards >= len(kept) >= 3
    for n, st in stat.items():  # finished shards were not written again
        now = (out / n.replace(".json", ".bin")).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert not list(out.rglob(".*.tmp-*"))

    reference = tmp_path / "reference"
    pack(PackConfig(inputs=[src], out=reference, tokenizer=gpt2, workers=1, shard_tokens=10_000))
    outputs = [json.loads((d / "manifest.json").read_text())["outputs"] for d in (out, reference)]
    assert outputs[0] == outputs[1]


def test_worker_encoding_equals_the_tokenizer(corpus, gpt2):
    from gptkit.pack.encode import encode_documents, init_worker

    tok = load_tokenizer(gpt2)
    texts = [d["text"] for f in sorted(corpus.iterdir()) for d in iter_documents(f)][-30:]
    init_worker(tok)
    tokens, lengths = encode_documents(texts)
    expected = [ids + [tok.eot_id] for ids in tok.encode_batch(texts)]
    assert lengths.tolist() == [len(e) for e in expected]
    assert tokens.dtype == np.uint16 and tokens.tolist() == [i for e in expected for i in e]


def test_resume_from_any_mix_of_finished_train_and_val_shards(corpus, gpt2, tmp_path):
    """Both splits have several shards; forget different numbers of them and rerun."""
    ref, out = tmp_path / "ref", tmp_path / "out"
    for d in (ref, out):
        _pack(corpus, gpt2, d, val_fraction=0.3, shard_tokens=4_000)
    shards = json.loads((ref / "manifest.json").read_text())["counts"]
    assert shards["train_shards"] >= 6 and shards["val_shards"] >= 3
    (out / "manifest.json").unlink()
    for name in ("train_00002", "val_00001"):  # the run "stopped" after train 0-1 and val 0
        (out / "completions" / f"{name}.json").unlink()
    summary = _pack(corpus, gpt2, out, val_fraction=0.3, shard_tokens=4_000)
    assert summary.resumed_shards == 3
    outputs = [json.loads((d / "manifest.json").read_text())["outputs"] for d in (out, ref)]
    assert outputs[0] == outputs[1]


def test_resume_when_only_the_validation_shard_is_missing(corpus, gpt2, tmp_path):
    out = tmp_path / "out"
    _pack(corpus, gpt2, out, val_docs=2, shard_tokens=10_000, chunk_bytes=1)
    before = json.loads((out / "manifest.json").read_text())["outputs"]
    (out / "manifest.json").unlink()
    (out / "completions" / "val_00000.json").unlink()
    summary = _pack(corpus, gpt2, out, val_docs=2, shard_tokens=10_000, chunk_bytes=1)  # ends with a chunk of skipped docs
    assert summary.resumed_shards == summary.shards["train"] and summary.documents["val"] == 2
    assert json.loads((out / "manifest.json").read_text())["outputs"] == before


def test_large_vocabulary_gives_uint32_shards(tmp_path):
    tok_dir = tmp_path / "tok"
    Tokenizer({bytes([i]): i for i in range(256)}, [], {EOT: 70_000}).save(tok_dir)  # 70,001 ids
    src = tmp_path / "docs.jsonl"
    src.write_text('{"text": "héllo"}\n{"text": "world"}\n')
    pack(PackConfig(inputs=[src], out=tmp_path / "out", tokenizer=tok_dir, workers=1, val_docs=0))
    header = np.fromfile(tmp_path / "out" / "train_00000.bin", dtype="<i4", count=3)
    assert header.tolist() == [20240801, 7, 13]  # 6 + 1 + 5 + 1
    tokens = np.memmap(tmp_path / "out" / "train_00000.bin", dtype=np.uint32, mode="r", offset=1024)
    assert tokens.tolist() == [*"héllo".encode(), 70_000, *b"world", 70_000]


def test_validation_draw_is_exact_uniform_and_streaming_friendly():
    from gptkit.pack.pack import choose_validation

    big = choose_validation(5_000_000, PackConfig(val_fraction=0.1, seed=3))  # spans 5 blocks of 2**20
    assert len(big) == 500_000 and np.all(np.diff(big) > 0) and big[-1] < 5_000_000
    assert np.array_equal(big, choose_validation(5_000_000, PackConfig(val_fraction=0.1, seed=3)))
    per_fifth = np.histogram(big, bins=5, range=(0, 5_000_000))[0]
    assert np.all(np.abs(per_fifth - 100_000) < 2_000)  # ~6 standard deviations
    assert len(choose_validation(10, PackConfig(val_docs=50))) == 9  # never every document
    assert len(choose_validation(2, PackConfig(val_fraction=0.0001))) == 1  # at least one
    assert len(choose_validation(100, PackConfig(val_docs=0))) == 0
