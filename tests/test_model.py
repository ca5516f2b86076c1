"""The GPT model: shapes, presets, KV cache, document masking, save/load and bad checkpoints."""

import json
import math

import pytest
import torch

from gptkit.errors import ConfigError, InputError
from gptkit.model.gpt import GPT, PRESETS, GPTConfig, doc_ids_from_eot, padded, preset
from gptkit.model.store import load_model, save_model

torch.set_num_threads(1)

VOCAB = 101  # not a multiple of 64: exercises the padding


def _model(arch="gpt2", **kw) -> GPT:
    torch.manual_seed(0)
    return GPT(preset("nano", vocab_size=VOCAB, arch=arch, **kw)).eval()


def test_logits_over_real_vocab_and_padded_embedding():
    model = _model()
    assert model.transformer.wte.weight.shape[0] == 128
    assert model.lm_head.weight is model.transformer.wte.weight
    x = torch.randint(0, VOCAB, (3, 17))
    logits = model(x)
    assert logits.shape == (3, 17, VOCAB)
    y = torch.randint(0, VOCAB, (3, 17))
    no_logits, loss = model(x, targets=y)
    assert no_logits is None  # the loss path never materialises the logits
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.item() == pytest.approx(math.log(VOCAB), rel=0.05)  # untrained ≈ uniform


def test_targets_minus_one_are_ignored():
    model = _model()
    x = torch.randint(0, VOCAB, (1, 10))
    y = x.clone()
    y[0, 5:] = -1
    _, loss = model(x, targets=y)
    _, loss_head = model(x[:, :5], targets=x[:, :5])
    assert loss.item() == pytest.approx(loss_head.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("name", "hf_params"),
    [
        ("gpt2-small", 124_439_808),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
    ],
)
def test_presets_match_gpt2_parameter_counts(name, hf_params):
    with torch.device("meta"):
        model = GPT(PRESETS[name])
    padding = (model.config.padded_vocab_size - 50257) * model.config.n_embd
    assert model.num_params(non_embedding=False) - padding == hf_params
    assert model.num_params() == model.num_params(non_embedding=False) - 1024 * model.config.n_embd


def test_gpt1_preset_is_post_ln_with_context_512():
    config = PRESETS["gpt1"]
    assert (config.arch, config.n_layer, config.n_embd, config.block_size) == ("gpt1", 12, 768, 512)
    model = _model("gpt1")
    assert isinstance(model.transformer.ln_f, torch.nn.Identity)
    assert not model.transformer.h[0].pre_ln


def test_residual_projection_init_is_scaled():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=8, n_head=4, n_embd=128, block_size=16, vocab_size=64))
    std = model.transformer.h[3].mlp.c_proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(16), rel=0.05)
    assert model.transformer.h[3].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_bad_config_and_unknown_preset():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=100, n_head=3)
    with pytest.raises(ConfigError, match="unknown model preset 'gpt5'"):
        preset("gpt5")
    with pytest.raises(ValueError, match="exceeds the model's context"):
        _model()(torch.zeros(1, 65, dtype=torch.long))


@pytest.mark.parametrize("arch", ["gpt2", "gpt1"])
def test_kv_cache_gives_the_same_logits(arch):
    model = _model(arch)
    x = torch.randint(0, VOCAB, (2, 24))
    full = model(x)
    cache = model.new_cache(batch_size=2, max_len=30)
    pieces = [model(x[:, :9], cache=cache), model(x[:, 9:16], cache=cache)]  # prefill, then a chunk
    pieces += [model(x[:, i : i + 1], cache=cache) for i in range(16, 24)]  # one token at a time
    assert cache.lengths.tolist() == [24, 24]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="KV cache"):
        model(x[:, :7], cache=cache)



@pytest.mark.parametrize("arch", ["gpt2", "gpt1"])
def test_hidden_at_read_positions_equals_the_full_pass(arch):
    """``hidden(read=...)`` (the last block computes one position per row) gives the full pass's
    states and gradients at those positions, with plain causal attention (right padding) and with
    document masks (left padding)."""
    model = _model(arch)
    x = torch.randint(1, VOCAB, (3, 20))
    read = torch.tensor([19, 4, 11])  # right-padded rows: what follows the read position is padding
    full = model.hidden(x)[torch.arange(3), read]
    full_grads = torch.autograd.grad(full.square().sum(), list(model.parameters()))
    only = model.hidden(x, read=read)
    only_grads = torch.autograd.grad(only.square().sum(), list(model.parameters()))
    assert only.shape == (3, model.config.n_embd)
    assert torch.allclose(only, full, atol=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-4) for a, b in zip(only_grads, full_grads, strict=True))
    doc_ids = (torch.arange(20)[None] >= torch.tensor([[0], [6], [13]])).long()  # rows 2, 3: left padding
    full = model.hidden(x, doc_ids=doc_ids)
    at_end = torch.full((3,), 19)
    assert torch.allclose(model.hidden(x, doc_ids=doc_ids, read=at_end), full[:, 19], atol=1e-5)


@pytest.mark.parametrize("arch", ["gpt2", "gpt1"])
def test_prefill_reading_the_last_positions_equals_the_full_pass(arch):
    """A prefill into a KV cache with ``read`` (the last block computes only the positions whose
    logits are needed) gives the full pass's states there and caches every position: right
    padding, rows that already hold tokens, and the decoding step after it all agree."""
    model = _model(arch)
    x = torch.randint(1, VOCAB, (3, 20))
    cache = model.new_cache(batch_size=3, max_len=24)
    model.hidden(x[:2, :5], cache=cache, rows=[0, 2], lengths=[5, 3])  # rows 0 and 2 hold tokens
    news = [x[0, 5:14], x[1, :14], x[2, 3:14]]  # appended from positions 5, 0 and 3
    idx = torch.zeros(3, 16, dtype=torch.long)
    for b, new in enumerate(news):
        idx[b, : len(new)] = new
    lengths = [len(n) for n in news]
    got = model.hidden(idx, cache=cache, lengths=lengths, read=torch.tensor(lengths) - 1)
    sequences = [x[0, :14], x[1, :14], torch.cat([x[1, :3], x[2, 3:14]])]  # row 2 began with x[1, :3]
    full = [model.hidden(seq[None])[0, -1] for seq in sequences]
    assert torch.allclose(got, torch.stack(full), atol=1e-5)
    assert cache.lengths.tolist() == [14, 14, 14]
    step = model.hidden(torch.tensor([[7], [8], [9]]), cache=cache, read=torch.zeros(3, dtype=torch.long))
    after = [model.hidden(torch.cat([s, torch.tensor([7 + b])])[None])[0, -1] for b, s in enumerate(sequences)]
    assert torch.allclose(step, torch.stack(after), atol=1e-5)


def test_document_masking_isolates_documents():
    eot = 0
    model = _model()
    a = torch.randint(1, VOCAB, (9,))
    b = torch.cat([torch.tensor([eot]), torch.randint(1, VOCAB, (12,))])
    packed = torch.cat([a, b])[None]
    doc_ids = doc_ids_from_eot(packed, eot)
    assert doc_ids.tolist() == [[0] * 9 + [1] * 13]
    logits = model(packed, doc_ids=doc_ids)
    # each document gives what it gives alone (own positions from 0, no attention across)
    assert torch.allclose(logits[0, :9], model(a[None])[0], atol=1e-5)
    assert torch.allclose(logits[0, 9:], model(b[None])[0], atol=1e-5)
    # without masking the second document sees the first
    assert not torch.allclose(model(packed)[0, 9:], model(b[None])[0], atol=1e-3)


def test_padded_fills_either_side_with_the_pad_id():
    sequences = [[5, 6, 7], [8], [9, 10]]
    assert padded(sequences).tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert padded(sequences, pad_id=2, left=True).tolist() == [[5, 6, 7], [2, 2, 8], [2, 9, 10]]


def test_dropout_only_in_training():
    model = _model(dropout=0.5)
    x = torch.randint(0, VOCAB, (1, 8))
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_save_load_roundtrip(tmp_path):
    model = _model("gpt1")
    save_model(tmp_path / "m", model)
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"model.safetensors", "model_config.json"}
    loaded, tok = load_model(tmp_path / "m")
    assert tok is None and loaded.config == model.config and not loaded.training
    x = torch.randint(0, VOCAB, (2, 11))
    assert torch.equal(loaded(x), model(x))
    assert loaded.lm_head.weight is loaded.transformer.wte.weight


def test_load_model_follows_run_dir_pointers(tmp_path):
    run = tmp_path / "run"
    first, second = _model(), _model(dropout=0.0, bias=False)
    save_model(run / "checkpoints" / "step_00000010", first)
    save_model(run / "checkpoints" / "step_00000020", second)
    (run / "latest").write_text("step_00000020\n")
    (run / "best").write_text("step_00000010\n")
    assert load_model(run)[0].config.bias is False
    assert load_model(run, which="best")[0].config.bias is True


def test_bad_checkpoints_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such model directory"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a model directory"):
        load_model(tmp_path / "empty")

    save_model(tmp_path / "m", _model())
    weights = tmp_path / "m" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(InputError, match="corrupt or unreadable weights"):
        load_model(tmp_path / "m")
    weights.write_bytes(good)

    meta_path = tmp_path / "m" / "model_config.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["n_layer"] = 3  # a config that does not match the weights
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="architecture.*missing transformer.h.2"):
        load_model(tmp_path / "m")
    meta["config"]["n_layer"], meta["config"]["n_embd"] = 2, 32
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="shape"):
        load_model(tmp_path / "m")
    meta["config"]["n_heads"] = 2
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="unknown config key 'config.n_heads'"):
        load_model(tmp_path / "m")
    meta_path.write_text("{not json")
    with pytest.raises(InputError, match="corrupt model config"):
        load_model(tmp_path / "m")


def test_tokenizer_is_saved_checked_and_returned(tmp_path, shared):
    from gptkit.errors import UsageError
    from gptkit.tokenizer import load_tokenizer

    gpt2 = shared("tokenizers/gpt2")
    with pytest.raises(UsageError, match="tokenizer has 50257 ids but the model's vocab_size is 101"):
        save_model(tmp_path / "bad", _model(), gpt2)
    torch.manual_seed(0)
    model = GPT(preset("nano", vocab_size=50257))
    save_model(tmp_path / "m", model, gpt2)  # a path: loaded and copied
    loaded, tok = load_model(tmp_path / "m")
    assert tok.hash == load_tokenizer(gpt2).hash
    assert json.loads((tmp_path / "m" / "model_config.json").read_text())["tokenizer_hash"] == tok.hash
    vocab = tmp_path / "m" / "tokenizer" / "vocab.json"
    ids = json.loads(vocab.read_text())
    ids["hello"], ids["world"] = ids["world"], ids["hello"]  # a different tokenizer
    vocab.write_text(json.dumps(ids))
    (tmp_path / "m" / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(InputError, match="tokenizer differs"):
        load_model(tmp_path / "m")
