"""Exact and MinHash LSH dedup: planted near-duplicates are found across shards, the first is kept."""

import random

import numpy as np
import pytest

from gptkit.data.clean import CleanConfig, clean
from gptkit.data.clean.config import DedupConfig
from gptkit.data.clean.dedup import (
    EXACT_DUP,
    KEEP,
    NEAR_DUP,
    MinHasher,
    UnionFind,
    band_keys,
    exact_key,
    find_duplicates,
)
from gptkit.io.shards import iter_documents, write_documents

_letters = random.Random(42)
#: Letters only: simplified text maps every digit run to "0".
VOCAB = sorted({"".join(_letters.choices("abcdefghijklmnopqrstuvwxyz", k=_letters.randint(2, 9))) for _ in range(5000)})


def random_doc(rng: random.Random, n_words: int = 300) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n_words)]


def perturb(words: list[str], frac: float, rng: random.Random) -> list[str]:
    """Replace ``frac`` of the words (at distinct random positions) by other words."""
    out = list(words)
    for i in rng.sample(range(len(out)), max(1, round(frac * len(out)))):
        out[i] = rng.choice(VOCAB) + "q"
    return out


def signatures(texts, cfg=None):
    cfg = cfg or DedupConfig()
    hasher = MinHasher(cfg)
    sigs = np.asarray([hasher.signature(t) for t in texts], dtype=np.uint64)
    return band_keys(sigs, cfg.num_buckets, cfg.hashes_per_bucket)


@pytest.mark.parametrize("engine", ["rensa", "datasketch"])
def test_planted_near_duplicates_recall(engine):
    rng = random.Random(0)
    n = 200 if engine == "rensa" else 60
    originals = [random_doc(rng) for _ in range(n)]
    copies = [perturb(words, 0.015, rng) for words in originals]  # ~2% of words changed (1.5%)
    texts = [" ".join(w) for w in originals + copies]
    result = find_duplicates(len(texts), None, signatures(texts, DedupConfig(engine=engine)))
    decision = result.decision
    assert (decision[:n] == KEEP).all()  # originals come first in input order and are kept
    recall = (decision[n:] == NEAR_DUP).mean()
    assert recall >= 0.95, recall


def test_unrelated_documents_are_not_merged_and_chains_keep_the_first():
    rng = random.Random(1)
    base = random_doc(rng)
    a, b = perturb(base, 0.01, rng), perturb(base, 0.01, rng)
    others = [" ".join(random_doc(rng)) for _ in range(50)]
    texts = others + [" ".join(a), " ".join(base), " ".join(b)]
    result = find_duplicates(len(texts), None, signatures(texts))
    assert (result.decision[:50] == KEEP).all()
    assert result.decision[50] == KEEP and (result.decision[51:] == NEAR_DUP).all()
    assert result.clusters == 1


def test_exact_dedup_normalises_whitespace_and_keeps_first():
    texts = ["a b  c", "x y", "a b\nc", "a b c ", "A b c"]
    keys = np.asarray([exact_key(t) for t in texts], dtype=np.uint64)
    decision = find_duplicates(len(keys), keys, None).decision
    assert decision.tolist() == [KEEP, KEEP, EXACT_DUP, EXACT_DUP, KEEP]


def test_signatures_are_deterministic_across_engines_runs():
    cfg = DedupConfig()
    text = "the quick brown fox jumps over the lazy dog again and again"
    assert MinHasher(cfg).signature(text) == MinHasher(cfg).signature(text)
    assert MinHasher(DedupConfig(seed=2)).signature(text) != MinHasher(cfg).signature(text)


def test_union_find_roots_are_smallest_members():
    uf = UnionFind(6)
    uf.union(4, 2)
    uf.union(5, 4)
    uf.union(3, 1)
    assert uf.roots().tolist() == [0, 1, 2, 1, 2, 2]


def test_pipeline_dedups_across_shards(tmp_path):
    """Duplicates in different input files are found; the one earliest in input order survives."""
    rng = random.Random(2)
    base = [" ".join(random_doc(rng)) for _ in range(30)]
    near = " ".join(perturb(base[3].split(), 0.01, rng))
    write_documents(tmp_path / "in" / "a.jsonl.zst", [{"id": f"a{i}", "text": t, "metadata": {}} for i, t in enumerate(base[:15])])
    second = [{"id": f"b{i}", "text": t, "metadata": {}} for i, t in enumerate(base[15:])]
    second += [{"id": "exact-of-a1", "text": base[1] + "\n"}, {"id": "near-of-a3", "text": near}]
    write_documents(tmp_path / "in" / "b.jsonl.zst", second)
    cfg = CleanConfig()
    for step in (cfg.language, cfg.gopher_repetition, cfg.gopher_quality, cfg.c4, cfg.fineweb):
        step.enabled = False
    summary = clean([tmp_path / "in"], tmp_path / "out", cfg, workers=2)
    ids = [d["id"] for p in sorted((tmp_path / "out").glob("*.jsonl.zst")) for d in iter_documents(p)]
    assert len(ids) == 30 and "exact-of-a1" not in ids and "near-of-a3" not in ids
    assert summary.stats["steps"]["exact_dedup"]["dropped"] == {"duplicate": 1}
    assert summary.stats["steps"]["minhash_dedup"]["dropped"] == {"duplicate": 1}
    assert summary.stats["dedup"]["near_duplicate_clusters"] == 1
    assert EXACT_DUP != NEAR_DUP
