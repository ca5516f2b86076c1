"""GPT-3 appendix C decontamination and the GPT-2 8-gram overlap report, on the real LAMBADA test set."""

import json

import numpy as np
import orjson
import pytest
from conftest import run_gptkit, shared_path

from gptkit.data.clean import CleanConfig, clean, overlap_report
from gptkit.data.clean.config import DecontaminateConfig
from gptkit.data.clean.decontaminate import build_eval_index, cut_contamination, iter_eval_texts, ngram_keys
from gptkit.data.clean.text import normalise_for_ngrams
from gptkit.io.shards import iter_documents, write_documents

FILLER = (
    "Community gardens have become a common sight in many towns, and the people who tend them say that the "
    "work brings neighbours together. Volunteers share tools, swap seeds and teach children how vegetables grow. "
)


def lambada_passages(n: int) -> list[str]:
    path = shared_path("lambada/lambada_test.jsonl")
    with path.open("rb") as f:
        return [orjson.loads(next(f))["text"] for _ in range(n)]


def keys_of(text: str) -> np.ndarray:
    """Sorted distinct 13-gram keys of ``text`` (the index format of cut_contamination)."""
    return np.unique(ngram_keys(normalise_for_ngrams(text), 13))


def test_cut_removes_hit_with_window_and_keeps_long_pieces():
    eval_text = " ".join(f"secret{i}" for i in range(13))
    before, after = FILLER * 3, FILLER * 4
    text = before + eval_text.upper() + ", " + after  # case and punctuation do not hide it
    result = cut_contamination(text, keys_of(eval_text), DecontaminateConfig())
    assert result.hits == 1 and result.reason is None and len(result.pieces) == 2
    start = text.index("SECRET0")
    assert result.pieces[0] == text[: start - 200].strip()
    assert all("secret" not in p.lower() for p in result.pieces)
    assert result.pieces[1].endswith(after.strip()[-50:])


def test_short_pieces_dropped_and_too_many_pieces_drop_the_document():
    eval_words = [f"evalword{i}" for i in range(13)]
    keys = keys_of(" ".join(eval_words))
    short = "tiny intro. " + " ".join(eval_words) + " " + FILLER * 3
    result = cut_contamination(short, keys, DecontaminateConfig())
    assert len(result.pieces) == 1 and not any("tiny intro" in p for p in result.pieces)  # < 200 chars: dropped
    many = (FILLER * 3 + " ".join(eval_words) + " ") * 11 + FILLER * 3  # 12 pieces
    assert cut_contamination(many, keys, DecontaminateConfig()).reason == "too_many_pieces"
    ten = (FILLER * 3 + " ".join(eval_words) + " ") * 9 + FILLER * 3  # 10 pieces: kept
    assert len(cut_contamination(ten, keys, DecontaminateConfig()).pieces) == 10


def test_eval_file_formats(tmp_path):
    coqa = shared_path("coqa/coqa-dev-v1.0.first-story.hf-dummy.json")
    texts = list(iter_eval_texts(coqa))
    story = json.loads(coqa.read_text())["data"][0]["story"]
    assert texts[0] == story and len(texts) == 2
    txt = tmp_path / "eval.txt"
    txt.write_text("first line\n\nsecond line\n")
    assert list(iter_eval_texts(txt)) == ["first line", "second line"]
    assert len(build_eval_index([str(shared_path("lambada/lambada_test.jsonl"))], 13)) > 200_000


def _web_docs(passages: list[str], n_filler: int = 40) -> list[dict]:
    docs = [{"id": f"web{i}", "text": (FILLER * 4).replace("towns", f"towns number {i}"), "metadata": {}} for i in range(n_filler)]
    for i, p in enumerate(passages):
        docs.append({"id": f"leak{i}", "text": FILLER * 3 + "\n" + p + "\n" + FILLER.replace("gardens", "orchards") * 3, "metadata": {}})
    return docs


def _decontam_only() -> CleanConfig:
    cfg = CleanConfig()
    for step in (cfg.language, cfg.gopher_repetition, cfg.gopher_quality, cfg.c4, cfg.fineweb):
        step.enabled = False
    cfg.dedup.minhash = cfg.dedup.exact = False
    cfg.decontaminate.eval_files = [str(shared_path("lambada/lambada_test.jsonl"))]
    return cfg


def test_lambada_passage_inside_web_document_is_removed(tmp_path):
    passage = lambada_passages(1)[0]
    write_documents(tmp_path / "in" / "web.jsonl.zst", _web_docs([passage]))
    summary = clean([tmp_path / "in"], tmp_path / "out", _decontam_only())
    docs = {d["id"]: d for d in iter_documents(tmp_path / "out" / "00000.jsonl.zst")}
    assert "leak0" not in docs and {"leak0#0", "leak0#1"} <= set(docs)
    lambada_keys = keys_of(passage)
    for doc in docs.values():
        assert not np.isin(keys_of(doc["text"]), lambada_keys).any()
    assert docs["leak0#1"]["metadata"]["decontaminated"] > 0
    assert docs["web3"]["text"] == (FILLER * 4).replace("towns", "towns number 3")
    step = summary.stats["steps"]["decontaminate"]
    assert step["docs_in"] == 41 and step["docs_out"] == 42 and step["bytes_out"] < step["bytes_in"]


def test_ngrams_in_more_than_10_training_documents_are_ignored(tmp_path):
    passage = lambada_passages(1)[0]
    write_documents(tmp_path / "in" / "web.jsonl.zst", _web_docs([passage] * 11, n_filler=5))
    summary = clean([tmp_path / "in"], tmp_path / "out", _decontam_only())
    ids = [d["id"] for d in iter_documents(tmp_path / "out" / "00000.jsonl.zst")]
    assert [i for i in ids if i.startswith("leak")] == [f"leak{i}" for i in range(11)]  # untouched
    assert summary.stats["dedup"]["eval_ngrams_ignored"] == summary.stats["dedup"]["eval_ngrams_hit"] > 0


@pytest.mark.parametrize("via_cli", [False, True])
def test_overlap_report(tmp_path, via_cli):
    passages = lambada_passages(2)
    write_documents(tmp_path / "corpus" / "00000.jsonl.zst", _web_docs(passages, n_filler=5))
    lambada = shared_path("lambada/lambada_test.jsonl")
    if via_cli:
        proc = run_gptkit("data", "overlap", tmp_path / "corpus", "--eval", lambada, "--report", tmp_path / "r.json", "-w", "1")
        assert proc.returncode == 0, proc.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert "eval_docs_touched_pct" in proc.stdout
    else:
        report = overlap_report([tmp_path / "corpus"], lambada)
    assert report["eval_documents"] == 5153 and report["corpus_documents"] == 7
    assert report["eval_docs_touched_pct"] == pytest.approx(100 * 2 / 5153)
    assert 0 < report["ngram_overlap_pct"] < 1
