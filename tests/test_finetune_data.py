"""Fine-tuning data: readers of every task's files, GPT-1's transforms, metrics, the head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gptkit.errors import InputError
from gptkit.finetune import metrics
from gptkit.finetune.head import TaskHead, collate, finetune_loss, lm_loss, task_outputs
from gptkit.finetune.tasks import TASKS, Example, load_split, read_file
from gptkit.finetune.transforms import SPECIALS, Transform, add_task_tokens, fit, resize_vocab
from gptkit.model.gpt import GPT, preset
from gptkit.tokenizer.tokenizer import Tokenizer
from tests.conftest import shared_path

FIXTURES = Path(__file__).parent / "data" / "finetune-tiny"


def byte_tokenizer() -> Tokenizer:
    """Byte-level BPE without merges: id = byte value, so expected ids are easy to write."""
    return Tokenizer({bytes([i]): i for i in range(256)}, [], {"<|endoftext|>": 256})


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return add_task_tokens(byte_tokenizer())


S, D, E = 257, 258, 259  # start, delimiter, extract after <|endoftext|> = 256


# --- transforms ---------------------------------------------------------------------------------


def test_task_tokens_are_appended_once_and_survive_save(tok, tmp_path):
    assert [tok.specials[s] for s in SPECIALS] == [S, D, E] and tok.vocab_size == 260
    assert add_task_tokens(tok) is tok
    from gptkit.tokenizer import load_tokenizer

    tok.save(tmp_path / "t")
    assert load_tokenizer(tmp_path / "t").specials == tok.specials
    assert tok.encode("<|ft_start|>") != [S]  # text that spells a task token stays text


@pytest.mark.parametrize(("task", "texts", "expected"), [
    ("sst2", ("hi",), [[S, 104, 105, E]]),
    ("rte", ("a", "b"), [[S, 97, D, 98, E]]),
    ("mrpc", ("a", "bc"), [[S, 97, D, 98, 99, E], [S, 98, 99, D, 97, E]]),
    ("storycloze", ("c", "x", "yz"), [[S, 99, D, 120, E], [S, 99, D, 121, 122, E]]),
])  # fmt: skip
def test_transforms_of_each_family(tok, task, texts, expected):
    encoded = Transform(TASKS[task], tok, max_len=64)(Example(texts, 1, "f:1"))
    assert [list(s) for s in encoded.sequences] == expected and encoded.label == 1 and not encoded.truncated


def test_fit_cuts_the_longest_part_first():
    assert fit([[1] * 10, [2] * 3], 8) == ([[1] * 5, [2] * 3], True)
    assert fit([[1] * 10, [2] * 10], 7) == ([[1] * 4, [2] * 3], True)
    assert fit([[1] * 2, [2] * 3], 5) == ([[1] * 2, [2] * 3], False)


def test_truncation_keeps_the_end_of_a_multiple_choice_context(tok):
    encoded = Transform(TASKS["race"], tok, max_len=8)(Example(("abcdefghij", "xy", "z", "w", "v"), 0, "f:1"))
    assert list(encoded.sequences[0]) == [S, *b"hij", D, *b"xy", E] and encoded.truncated
    clf = Transform(TASKS["sst2"], tok, max_len=5)(Example(("abcdef",), 0, "f:1"))
    assert list(clf.sequences[0]) == [S, *b"abc", E]


def test_resize_vocab_keeps_old_rows_and_draws_new_ones():
    model = GPT(preset("nano", vocab_size=257)).eval()
    bigger = resize_vocab(model, 260, torch.Generator().manual_seed(0)).eval()
    old, new = model.transformer.wte.weight, bigger.transformer.wte.weight
    assert torch.equal(new[:257], old[:257]) and bigger.config.vocab_size == 260
    assert 0.005 < new[257:260].std() < 0.05  # N(0, 0.02²), not zeros
    x = torch.tensor([[1, 2, 3, 4]])
    assert torch.allclose(bigger(x)[..., :257], model(x), atol=1e-6)


# --- the head -----------------------------------------------------------------------------------


def test_extract_state_is_read_at_the_computed_position_whatever_the_padding(tok):
    torch.manual_seed(0)
    gpt = GPT(preset("nano", vocab_size=tok.vocab_size))
    head = TaskHead(TASKS["rte"], gpt.config.n_embd, 0.1)
    gpt.eval()
    head.eval()

    def model(batch):
        return task_outputs(gpt, head, batch)

    transform = Transform(TASKS["rte"], tok, 64)
    short, long = transform(Example(("a", "b"), 0, "f:1")), transform(Example(("a long premise", "b"), 1, "f:2"))
    alone, _ = model(collate([short]))
    batch = collate([short, long])
    padded, _ = model(batch)
    assert torch.allclose(padded[0], alone[0], atol=1e-5)
    batch.tokens[0, len(short.sequences[0]) :] = E  # pad with the extract id itself: nothing changes
    assert torch.allclose(model(batch)[0][0], alone[0], atol=1e-5)


def test_similarity_adds_both_orders_and_choices_share_one_softmax(tok):
    torch.manual_seed(0)
    gpt = GPT(preset("nano", vocab_size=tok.vocab_size))
    gpt.eval()
    mrpc = TaskHead(TASKS["mrpc"], gpt.config.n_embd, 0.0)
    ab = task_outputs(gpt, mrpc, collate([Transform(TASKS["mrpc"], tok, 64)(Example(("ab", "c"), 0, "f:1"))]))[0]
    ba = task_outputs(gpt, mrpc, collate([Transform(TASKS["mrpc"], tok, 64)(Example(("c", "ab"), 0, "f:1"))]))[0]
    assert ab.shape == (1, 2) and torch.allclose(ab, ba, atol=1e-5)  # symmetric by construction
    race = TaskHead(TASKS["race"], gpt.config.n_embd, 0.0)
    batch = collate([Transform(TASKS["race"], tok, 64)(Example(("ctx", "a", "b", "c", "d"), 2, "f:1"))])
    outputs, _ = task_outputs(gpt, race, batch)
    assert outputs.shape == (1, 4)
    loss, parts = finetune_loss(gpt, race, batch, lm_weight=0.0)
    assert torch.allclose(loss, -torch.log_softmax(outputs, -1)[0, 2]) and "lm_loss" not in parts


def test_aux_lm_loss_is_added_with_its_weight(tok):
    torch.manual_seed(0)
    gpt = GPT(preset("nano", vocab_size=tok.vocab_size))
    gpt.eval()
    head = TaskHead(TASKS["stsb"], gpt.config.n_embd, 0.0)
    batch = collate([Transform(TASKS["stsb"], tok, 64)(Example(("ab", "c"), 3.5, "f:1"))], regression=True)
    loss, parts = finetune_loss(gpt, head, batch, lm_weight=0.5)
    assert batch.lengths.tolist() == [6, 6]  # both orders, no padding: the plain LM loss must agree
    _, plain = gpt(batch.tokens[:, :-1], batch.tokens[:, 1:])
    assert torch.allclose(loss, parts["task_loss"] + 0.5 * parts["lm_loss"])
    assert torch.allclose(parts["lm_loss"], plain, atol=1e-5)



def test_aux_lm_loss_on_padded_rows_matches_the_full_logits(tok):
    """The chunked path (output layer on real positions only) gives the loss and gradients of
    cross-entropy over the full logits with padding ignored."""
    torch.manual_seed(0)
    gpt = GPT(preset("nano", vocab_size=tok.vocab_size)).eval()
    transform = Transform(TASKS["sst2"], tok, 64)
    batch = collate([transform(Example((text,), 1, "f:1")) for text in ("short", "a much longer sentence")])
    hidden = gpt.hidden(batch.tokens)
    targets = batch.tokens[:, 1:].clone()
    targets[torch.arange(targets.size(1))[None, :] >= batch.lengths[:, None] - 1] = -1
    logits = gpt.logits(hidden[:, :-1])
    eager = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
    eager_grad = torch.autograd.grad(eager, gpt.transformer.wte.weight)[0]
    chunked = lm_loss(gpt, gpt.hidden(batch.tokens), batch)
    chunked_grad = torch.autograd.grad(chunked, gpt.transformer.wte.weight)[0]
    assert torch.allclose(chunked, eager, atol=1e-5)
    assert torch.allclose(chunked_grad, eager_grad, atol=1e-6)


# --- metrics (hand-computed) ------------------------------------------------------------------


def test_metrics_against_hand_computed_values():
    # MCC: TP 1, FP 1, TN 2, FN 0 -> (1*2 - 1*0) / sqrt(2 * 1 * 3 * 2)
    assert metrics.score("mcc", [1, 1, 0, 0], [1, 0, 0, 0])["mcc"] == pytest.approx(2 / 12**0.5)
    assert metrics.score("mcc", [1, 1, 1, 1], [1, 0, 1, 0])["mcc"] == 0.0  # one class predicted
    f1 = metrics.score("f1_accuracy", [1, 1, 0, 0], [1, 0, 1, 0])  # TP 1, FP 1, FN 1
    assert (f1["f1"], f1["accuracy"], f1["n"]) == (0.5, 0.5, 4)
    # Pearson of (1,2,3) and (2,4,7): 5 / sqrt(2 * 38/3); Spearman: same order -> 1
    corr = metrics.score("pearson_spearman", [1.0, 2.0, 3.0], [2.0, 4.0, 7.0])
    assert corr["pearson"] == pytest.approx(5 / (2 * 38 / 3) ** 0.5) and corr["spearman"] == pytest.approx(1.0)


def test_race_accuracy_per_level():
    out = metrics.score("accuracy", [0, 1, 2, 3, 0], [0, 1, 0, 0, 0], ["middle", "middle", "high", "high", "high"])
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert (out["accuracy_middle"], out["accuracy_high"]) == (1.0, pytest.approx(1 / 3))


# --- readers ------------------------------------------------------------------------------------


def test_fixture_splits_of_every_family():
    counts = {
        ("sst2", "sst2", "train"): 8, ("sst2", "sst2", "dev"): 4, ("mrpc", "mrpc", "dev"): 4,
        ("snli", "snli", "train"): 16, ("snli", "snli", "test"): 8,
        ("storycloze", "storycloze", "train"): 8, ("storycloze", "storycloze", "valid"): 2,
        ("storycloze", "storycloze", "test"): 4, ("race", "race", "train"): 4, ("race", "race", "test"): 3,
    }  # fmt: skip
    for (task, folder, split), n in counts.items():
        assert len(load_split(TASKS[task], FIXTURES / folder, split).examples) == n, (task, split)
    dev = load_split(TASKS["sst2"], FIXTURES / "sst2", "dev").examples
    assert dev[3] == Example(('a "joyless mess .',), 0, f"{FIXTURES / 'sst2' / 'dev.tsv'}:5")  # quote kept as text
    story = load_split(TASKS["storycloze"], FIXTURES / "storycloze", "test").examples[3]
    assert story.texts[0].endswith('He watched lessons, "every" day. After a month he could play a song.')
    race = load_split(TASKS["race"], FIXTURES / "race", "test").examples
    assert [(e.group, e.label) for e in race] == [("middle", 1), ("high", 2), ("high", 1)]
    assert race[0].texts[0].endswith("\nWhat does Jack eat after school?") and len(race[0].texts) == 5


def test_headerless_layouts_and_skipped_rows(tmp_path):
    (tmp_path / "dev.tsv").write_text("gj04\t1\t\tGood sentence.\ngj04\t0\t*\tSentence bad.\n")
    cola = load_split(TASKS["cola"], tmp_path, "dev").examples
    assert [(e.texts, e.label) for e in cola] == [(("Good sentence.",), 1), (("Sentence bad.",), 0)]
    (tmp_path / "train.tsv").write_text("1\t2\t3\tq one?\tq two? 0\n4\t5\t6\tq three?\tq four?\t1\n")
    qqp = load_split(TASKS["qqp"], tmp_path, "train")  # GLUE QQP's row whose last tab is a space
    assert [e.texts for e in qqp.examples] == [("q three?", "q four?")]
    assert qqp.skipped == {"fewer than 6 tab-separated fields": 1}


def test_tables_with_named_columns(tmp_path):
    rows = [{"premise": "a", "hypothesis": "b", "label": "neutral"}, {"premise": "c", "hypothesis": "d", "label": 2}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"context": "q", "options": ["x", "y"], "label": 1}]), tmp_path / "dev.parquet")
    train = load_split(TASKS["mnli"], tmp_path, "train").examples
    assert [(e.texts, e.label) for e in train] == [(("a", "b"), 1), (("c", "d"), 2)]
    dev = load_split(TASKS["storycloze"], tmp_path, "dev").examples
    assert dev == [Example(("q", "x", "y"), 1, f"{tmp_path / 'dev.parquet'}:1")]
    import datasets

    datasets.Dataset.from_list([{"text": "fine", "label": "1"}]).save_to_disk(str(tmp_path / "test"))
    assert load_split(TASKS["sst2"], tmp_path, "test").examples[0].texts == ("fine",)


@pytest.mark.parametrize(("name", "content", "task", "message"), [
    ("train.tsv", "sentence\tlabel\ngood\t1\nbad\tnegative\n", "sst2", "train.tsv:3: unknown label 'negative'"),
    ("train.tsv", "text\tlabel\ngood\t1\n", "sst2", "train.tsv:1: expected a header naming the columns sentence"),
    ("train.jsonl", '{"text": "x", "label": 1}\n{"label": 0}\n', "sst2", "train.jsonl:2: missing column 'text'"),
    ("train.jsonl", '{"text": "x", "label": 1}\n{"text": \n', "sst2", "train.jsonl:2: invalid JSON"),
    ("train.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                  "0\tg\tf\t2012\t1\ts\ts\ta\tb\tfive\n", "stsb", "train.tsv:2: expected a number"),
])  # fmt: skip
def test_bad_rows_name_file_and_line(tmp_path, name, content, task, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load_split(TASKS[task], tmp_path, "train")


def test_a_file_that_is_not_utf8_is_an_input_error(tmp_path):
    (tmp_path / "train.tsv").write_bytes(b"sentence\tlabel\ncaf\xe9\t1\n")
    with pytest.raises(InputError, match="train.tsv: not UTF-8 text"):
        load_split(TASKS["sst2"], tmp_path, "train")


def test_predict_files_need_no_labels_but_keep_them(tmp_path):
    (tmp_path / "test.tsv").write_text("index\tsentence\n0\tgreat .\n1\tawful .\n")
    split = read_file(TASKS["sst2"], tmp_path / "test.tsv")
    assert [(e.texts, e.label) for e in split.examples] == [(("great .",), None), (("awful .",), None)]
    assert [e.label for e in read_file(TASKS["sst2"], FIXTURES / "sst2" / "dev.tsv").examples] == [1, 0, 1, 0]


# --- the real files (shared data) ---------------------------------------------------------------


def test_real_glue_files_parse_with_their_quirks():
    stsb = load_split(TASKS["stsb"], shared_path("finetune/stsb"), "dev")
    assert len(stsb.examples) == 1500 and not stsb.skipped  # row 764's unmatched quote merges nothing
    mrpc = shared_path("finetune/mrpc")
    assert len(load_split(TASKS["mrpc"], mrpc, "train").examples) == 3668  # rebuilt as HF glue does
    assert len(load_split(TASKS["mrpc"], mrpc, "dev").examples) == 408  # BOM header
    sts_test = load_split(TASKS["stsb"], shared_path("finetune/stsb"), "test")
    assert len(sts_test.examples) == 1379  # headerless, some rows with 2 extra fields
    cola = load_split(TASKS["cola"], shared_path("finetune/cola"), "dev").examples
    assert len(cola) == 1043 and sum(e.label for e in cola) == 721
    qqp = read_file(TASKS["qqp"], shared_path("finetune/qqp/qqp_glue_train_subset.tsv"))
    assert len(qqp.examples) == 23497 and qqp.examples[0].label is None  # predicting: the 5-field row is read


def test_real_story_cloze_and_race_follow_the_papers_protocol():
    folder = shared_path("finetune/story_cloze")
    train = load_split(TASKS["storycloze"], folder, "train").examples
    valid = load_split(TASKS["storycloze"], folder, "valid").examples
    assert (len(train), len(valid), len(load_split(TASKS["storycloze"], folder, "test").examples)) == (1497, 374, 1871)
    assert not {e.source for e in train} & {e.source for e in valid}
    race = load_split(TASKS["race"], shared_path("finetune/race"), "test").examples
    levels = [e.group for e in race]
    assert (levels.count("middle"), levels.count("high")) == (1436, 3498)
    snli = load_split(TASKS["snli"], shared_path("finetune/snli"), "dev")
    assert len(snli.examples) == 9842
