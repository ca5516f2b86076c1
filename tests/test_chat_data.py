"""gptkit data chat: every source format to one conversation format, bad conversations counted,
a deterministic split that keeps an OpenAssistant tree on one side, reuse on rerun."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, assert_one_line_error, run_gptkit, shared_path

from gptkit.chat.data import ChatDataConfig, chat_data, conversation_files
from gptkit.chat.sources import SourceOptions, check_messages, hh_messages, record_conversations
from gptkit.io.shards import iter_jsonl

FIXTURES = REPO / "tests" / "data" / "chat"


def _read(out, split):
    return [obj for f in conversation_files(out, split) for _, obj in iter_jsonl(f)]


def _msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def test_check_messages_names_what_is_wrong():
    good = _msgs(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"))
    assert check_messages(good) is None
    assert check_messages(_msgs(("user", "a"), ("user", "b"), ("assistant", "c"))) == "turns do not alternate user/assistant"
    assert check_messages(_msgs(("assistant", "a"))) == "turns do not alternate user/assistant"
    assert check_messages(_msgs(("user", "a"), ("assistant", "  "))) == "empty assistant turn"
    assert check_messages(_msgs(("user", "a"))) == "ends without an assistant turn"
    assert check_messages(_msgs(("system", "s"))) == "no user turn"
    assert check_messages([{"role": "bot", "content": "x"}]).startswith("message without a role")


def test_hh_transcript_becomes_turns():
    text = "\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant: 6."
    assert hh_messages(text) == _msgs(("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?"),
                                      ("assistant", "6."))  # fmt: skip


def _tree():
    """A hand-made OpenAssistant tree: two ranked replies, the best one continued by the user."""
    def msg(mid, role, text, replies=(), rank=None, synthetic=False):
        return {"message_id": mid, "role": role, "text": text, "rank": rank, "synthetic": synthetic,
                "deleted": False, "replies": list(replies)}  # fmt: skip

    follow = msg("u2", "prompter", "Why?", [msg("a3", "assistant", "Because.", rank=0)], rank=0)
    root = msg("u1", "prompter", "Q", [msg("a1", "assistant", "second best", rank=1),
                                       msg("a2", "assistant", "best", [follow], rank=0),
                                       msg("a4", "assistant", "model-written", rank=None, synthetic=True)])  # fmt: skip
    return {"message_tree_id": "t1", "prompt": root}


def test_oasst_best_and_all_branches():
    best = list(record_conversations(_tree(), "x", SourceOptions("best")))
    assert [[m["content"] for m in c["messages"]] for c in best] == [["Q", "best", "Why?", "Because."]]
    every = list(record_conversations(_tree(), "x", SourceOptions("all")))
    assert sorted(c["messages"][1]["content"] for c in every) == ["best", "second best"]
    assert {c["group"] for c in every} == {"t1"}
    with_synthetic = list(record_conversations(_tree(), "x", SourceOptions("all", oasst_synthetic=True)))
    assert len(with_synthetic) == 3


def test_fixtures_all_formats(tmp_path):
    out = tmp_path / "chat"
    summary = chat_data(ChatDataConfig(inputs=[FIXTURES], out=out, oasst_branch="all", val_fraction=0.3))
    convs = _read(out, "train") + _read(out, "val")
    assert summary.sources == {"openassistant": 11, "hh-rlhf": 4, "self-instruct": 3}
    assert len(convs) == 18 == sum(summary.conversations.values())
    assert summary.skipped == {"empty assistant turn": 1, "turns do not alternate user/assistant": 1}
    assert any("hh_helpful_base_6.jsonl:6" in i for i in summary.issues)
    assert all(check_messages(c["messages"]) is None for c in convs)
    train_groups = {c["group"] for c in _read(out, "train")}
    assert train_groups.isdisjoint({c["group"] for c in _read(out, "val")})
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "data chat" and manifest["counts"]["skipped"] == 2
    assert chat_data(ChatDataConfig(inputs=[FIXTURES], out=out, oasst_branch="all", val_fraction=0.3)).reused


def test_parquet_and_datasets_folder_read_like_jsonl(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "self_instruct_seed_3.jsonl").read_text().splitlines()]
    rows = [{"instruction": r["instruction"], "input": r["instances"][0]["input"], "output": r["instances"][0]["output"]}
            for r in rows]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "alpaca.parquet")
    import datasets

    datasets.Dataset.from_list([{"messages": _msgs(("user", "Hi"), ("assistant", "Hello"))}]).save_to_disk(
        str(tmp_path / "ds"))  # fmt: skip
    out = tmp_path / "out"
    summary = chat_data(ChatDataConfig(inputs=[tmp_path / "alpaca.parquet", tmp_path / "ds"], out=out, val_fraction=0))
    assert summary.sources == {"self-instruct": 3, "messages": 1}
    convs = _read(out, "train")
    assert convs[0]["messages"][0]["content"] == rows[0]["instruction"] + (f"\n\n{rows[0]['input']}" if rows[0]["input"] else "")
    assert convs[-1]["messages"][1]["content"] == "Hello"


def test_cli_counts_bad_lines_and_rejects_missing_input(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
                   "not json\n" '{"foo": 1}\n')  # fmt: skip
    proc = run_gptkit("data", "chat", bad, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    assert "bad.jsonl:2: invalid JSON" in proc.stderr and "bad.jsonl:3: unknown record" in proc.stderr
    assert "train 1 conversations" in proc.stdout.replace(",", "")
    assert_one_line_error(run_gptkit("data", "chat", tmp_path / "nope.jsonl", "--out", tmp_path / "o2"), "nope.jsonl")


def test_shared_openassistant_trees_all_paths(tmp_path):
    trees = shared_path("rlhf/openassistant/en_100_tree.jsonl")
    best = chat_data(ChatDataConfig(inputs=[trees], out=tmp_path / "best", oasst_branch="best"))
    every = chat_data(ChatDataConfig(inputs=[trees], out=tmp_path / "all", oasst_branch="all"))
    n_best = sum(best.conversations.values())
    assert n_best == 95  # one per human-written tree (5 of the 100 have a model-written prompt)
    assert sum(every.conversations.values()) > 4 * n_best
    assert best.skipped == {"OpenAssistant tree whose prompt is deleted or synthetic": 5}


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_split_does_not_depend_on_input_order(tmp_path, fraction):
    files = sorted(FIXTURES.glob("*.jsonl"))
    a = chat_data(ChatDataConfig(inputs=files, out=tmp_path / "a", val_fraction=fraction))
    b = chat_data(ChatDataConfig(inputs=files[::-1], out=tmp_path / "b", val_fraction=fraction))
    assert a.conversations == b.conversations
    assert sorted(c["id"] for c in _read(tmp_path / "a", "val")) == sorted(c["id"] for c in _read(tmp_path / "b", "val"))
