"""Clean steps declared once (gptkit.data.clean.steps): the registry, recipe order, byte-identical output."""

import hashlib
import json

import pytest
from conftest import assert_one_line_error, run_gptkit

from gptkit.data.clean import CleanConfig, clean, steps
from gptkit.data.clean.config import DecontaminateConfig, PiiConfig, UrlFilterConfig
from gptkit.io.shards import iter_documents, write_documents
from gptkit.pipeline.site import sample_path

PROSE = (
    "The river had risen during the night, and by morning the old bridge was under water. People from the "
    "village came down to look at it and to talk about what they should do. Some of them wanted to wait for "
    "the water to fall, but others thought that they had to act at once. Write to ann@mail.example.com.\n"
)


def _docs(n):
    return [{"id": f"d{i}", "text": f"Story number {i}. " + PROSE * 2, "metadata": {}} for i in range(n)]


def test_registry_names_every_step_once_with_document_steps_first():
    names = [s.name for s in steps.REGISTRY]
    assert names == list(CleanConfig().steps) and len(set(names)) == len(names)
    kinds = [s.kind for s in steps.REGISTRY]
    assert kinds == sorted(kinds)  # "document" < "shard"
    cfg = CleanConfig(pii=PiiConfig(enabled=True))
    built = [s.build(cfg) for s in steps.active(cfg)]
    assert [b.name for b in built] == [n for n in names if n not in ("url_filter", "decontaminate")]


def test_recipe_reorders_and_leaves_out_steps(tmp_path):
    inp = tmp_path / "in"
    write_documents(inp / "00000.jsonl.zst", _docs(3) + _docs(1))  # d0 twice: an exact duplicate
    order = '["c4","language","pii","exact_dedup"]'
    out = tmp_path / "out"
    proc = run_gptkit("data", "clean", inp, "--out", out, "-w", "1", "--pii", "--set", f"clean.steps={order}")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["steps"]) == ["c4", "language", "pii", "exact_dedup"]  # the funnel draws this order
    assert stats["steps"]["exact_dedup"]["dropped"] == {"duplicate": 1}
    assert stats["dedup"]["near_duplicates"] == 0
    assert stats["pii_replacements"] == 8  # pii ran before exact_dedup: on the duplicate too
    kept = [d for p in sorted(out.glob("*.jsonl.zst")) for d in iter_documents(p)]
    assert len(kept) == 3 and all("email@example.com" in d["text"] for d in kept)


def test_a_bad_order_is_a_one_line_config_error(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": PROSE}) + "\n")
    for order, needle in (('["pii","c4"]', "must all come before"), ('["c5"]', "unknown step 'c5'")):
        proc = run_gptkit("data", "clean", inp, "--out", tmp_path / "o", "--set", f"clean.steps={order}")
        assert_one_line_error(proc, "clean", needle)


#: sha256[:16] of the outputs of today's main (before the registry) on the fixture below.
GOLDEN = {
    "default": {
        "00000.jsonl.zst": "cba92a11a2291b3d", "00001.jsonl.zst": "5c2185b388ff28bf", "00002.jsonl.zst": "8f15dec5a8bf35a3",
        "completions/filter-00000.json": "c12f59aaff7700c6", "completions/filter-00001.json": "3b229638bf2a9ce1",
        "completions/filter-00002.json": "27903e290aa2e57a", "completions/index.json": "fc861f0609c76da8",
        "completions/write-00000.json": "06223c2c607a6f4b", "completions/write-00001.json": "fc5b08976f0120c2",
        "completions/write-00002.json": "8d95ec37a10b0101", "funnel.png": "24173c7bcc968bf3",
        "stats.json": "86a0d70e4e2180a3", ".work/index.npz": "fb01254c37defc51",
        "completions/finish.json": "86a0d70e4e2180a3",  # the finish task's marker: the stats
    },
    "all": {
        "00000.jsonl.zst": "48cc11216dc79096", "00001.jsonl.zst": "5c2185b388ff28bf", "00002.jsonl.zst": "8f15dec5a8bf35a3",
        "completions/filter-00000.json": "0b0540b39c07941c", "completions/filter-00001.json": "50082d7a2d537af8",
        "completions/filter-00002.json": "c772558d998d2e76", "completions/index.json": "fc861f0609c76da8",
        "completions/write-00000.json": "0beae849e6dd04e0", "completions/write-00001.json": "26518a66e4bc1bda",
        "completions/write-00002.json": "4dc5aa48174df0f9", "funnel.png": "559fe9885cef7704",
        "stats.json": "3e700b2dfd387292", ".work/index.npz": "fb01254c37defc51",
        "completions/finish.json": "3e700b2dfd387292",
        "removed/c4/00000.jsonl.zst": "8465dc707f534a63", "removed/c4/00001.jsonl.zst": "b6f748803e5cf6ae",
        "removed/exact_dedup/00001.jsonl.zst": "db4086e900cef8fb",
        "removed/exact_dedup/00002.jsonl.zst": "d1f08616ae1d5dbd",
        "removed/fineweb/00000.jsonl.zst": "e08c5d18b1d8b505", "removed/fineweb/00001.jsonl.zst": "93f88bf784daa427",
        "removed/fineweb/00002.jsonl.zst": "de33d5779aca211e",
        "removed/gopher_quality/00000.jsonl.zst": "ae4ccf1d9c5f0fc0",
        "removed/gopher_quality/00001.jsonl.zst": "627d8b4728ac2591",
        "removed/gopher_quality/00002.jsonl.zst": "be60e437b308f17f",
        "removed/gopher_repetition/00000.jsonl.zst": "7409d9f3d1a41ff5",
        "removed/gopher_repetition/00001.jsonl.zst": "e172b7d7d612f2c4",
        "removed/gopher_repetition/00002.jsonl.zst": "82317c91c87d7db7",
        "removed/language/00000.jsonl.zst": "412eb9dc8c5b9ac6", "removed/language/00001.jsonl.zst": "38c240a5067ad8ba",
        "removed/language/00002.jsonl.zst": "4986a4983442c0b2",
    },
}  # fmt: skip


def _digest(out):
    # they hold the config (which gained `steps`) or the command that made the folder
    skip = ("manifest.json", "config.toml", "fingerprint", ".gptkit-stage.json")
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in skip
    }


@pytest.mark.parametrize("variant", ["default", "all"])
def test_outputs_are_byte_identical_to_the_inline_steps(tmp_path, variant):
    """Shards, markers, stats and funnel match those of the code before the registry (every step on in "all")."""
    web = sample_path("cc-by-sa-web-documents.jsonl.gz")  # the shared web-text file, bundled with gptkit
    docs = list(iter_documents(web))
    docs += [{**d, "id": d["id"] + "-copy"} for d in docs[::50]]
    for k in range(3):
        write_documents(tmp_path / "in" / f"{k:05d}.jsonl.zst", docs[k::3])
    cfg = CleanConfig()
    if variant == "all":
        lambada = sample_path("lambada_test.jsonl.gz")
        cfg = CleanConfig(keep_removed=True, pii=PiiConfig(enabled=True), decontaminate=DecontaminateConfig(eval_files=[str(lambada)]),
                          url_filter=UrlFilterConfig(enabled=True, domains=["wordpress.com", "blogspot.com"]))  # fmt: skip
    out = clean([tmp_path / "in"], tmp_path / variant, cfg, workers=1).out_dir
    assert _digest(out) == GOLDEN[variant]
