"""transformers export and import: logits equal to 1e-5, tokenizer loads offline, bad input."""

import json

import pytest
import torch
from conftest import assert_one_line_error, run_gptkit

from gptkit.errors import InputError
from gptkit.model.gpt import GPT, preset
from gptkit.model.hf import export_hf
from gptkit.model.store import load_model, save_model
from gptkit.tokenizer import load_tokenizer

transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    from conftest import shared_path

    return load_tokenizer(shared_path("tokenizers/gpt2"))


def _model(arch: str, bias: bool = True, vocab_size: int = 50257) -> GPT:
    torch.manual_seed(0)
    model = GPT(preset("nano", arch=arch, bias=bias, vocab_size=vocab_size)).eval()
    with torch.no_grad():  # make biases and LayerNorms non-trivial so a mapping mistake shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize(("arch", "bias"), [("gpt2", True), ("gpt2", False), ("gpt1", True)])
def test_hf_logits_equal_gptkit(tmp_path, arch, bias):
    model = _model(arch, bias, vocab_size=300)
    export_hf(model, None, tmp_path / "hf")
    cls = transformers.GPT2LMHeadModel if arch == "gpt2" else transformers.OpenAIGPTLMHeadModel
    hf = cls.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    x = torch.randint(0, 300, (3, 40))
    with torch.no_grad():
        ours, theirs = model(x), hf(x).logits
    assert theirs.shape == ours.shape == (3, 40, 300)
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()

    back, _ = load_model(tmp_path / "hf")  # import: the HF dir initialises gptkit
    assert back.config.arch == arch
    assert torch.allclose(back(x), ours, atol=1e-6)


def test_export_with_tokenizer_loads_with_auto_classes(tmp_path, gpt2_tokenizer):
    model = _model("gpt2")
    save_model(tmp_path / "model", model, gpt2_tokenizer)
    proc = run_gptkit("export", tmp_path / "model", "--format", "hf", "--out", tmp_path / "hf")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "hf"
    assert {"config.json", "model.safetensors", "tokenizer.json", "manifest.json"} <= {p.name for p in out.iterdir()}

    hf_tok = transformers.AutoTokenizer.from_pretrained(out, local_files_only=True)
    text = "Hello world, the <|endoftext|> token and ünïcödé."
    ids = hf_tok(text)["input_ids"]
    assert ids == gpt2_tokenizer.encode(text, allowed_special="all")
    assert hf_tok.eos_token_id == gpt2_tokenizer.eot_id == 50256
    hf = transformers.AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    x = torch.tensor([ids])
    with torch.no_grad():
        assert torch.allclose(hf(x).logits, model(x), atol=1e-5)

    # a second run finds the export complete; verify checks it
    again = run_gptkit("export", tmp_path / "model", "--out", out)
    assert again.returncode == 0 and "already complete" in again.stderr
    assert run_gptkit("verify", out).returncode == 0


def test_import_command_from_pytorch_model_bin(tmp_path, gpt2_tokenizer):
    model = _model("gpt2")
    export_hf(model, gpt2_tokenizer, tmp_path / "hf")
    from safetensors.torch import load_file

    state = load_file(tmp_path / "hf" / "model.safetensors")
    # the original GPT-2 checkpoints: no "transformer." prefix, attention-mask buffers included
    legacy = {k.removeprefix("transformer."): v for k, v in state.items()}
    legacy["h.0.attn.bias"] = torch.ones(1, 1, 64, 64).tril()
    torch.save(legacy, tmp_path / "hf" / "pytorch_model.bin")
    (tmp_path / "hf" / "model.safetensors").unlink()

    proc = run_gptkit("import", tmp_path / "hf", "--out", tmp_path / "model")
    assert proc.returncode == 0, proc.stderr
    loaded, tok = load_model(tmp_path / "model")
    assert tok.hash == gpt2_tokenizer.hash
    x = torch.randint(0, 50257, (2, 16))
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_import_keeps_the_dropout_and_says_what_it_merged(tmp_path):
    export_hf(_model("gpt2"), None, tmp_path / "hf")
    config_path = tmp_path / "hf" / "config.json"
    config = json.loads(config_path.read_text())
    config.update(resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    config_path.write_text(json.dumps(config))
    proc = run_gptkit("import", tmp_path / "hf", "--out", tmp_path / "same")
    assert proc.returncode == 0, proc.stderr
    assert "dropout" not in proc.stderr
    assert load_model(tmp_path / "same")[0].config.dropout == 0.1

    config.update(attn_pdrop=0.0)
    config_path.write_text(json.dumps(config))
    proc = run_gptkit("import", tmp_path / "hf", "--out", tmp_path / "mixed")
    assert proc.returncode == 0, proc.stderr
    assert "kept resid_pdrop 0.1 for all three" in proc.stderr
    assert load_model(tmp_path / "mixed")[0].config.dropout == 0.1


def test_import_refuses_other_models_and_pickles(tmp_path):
    hf = tmp_path / "hf"
    export_hf(_model("gpt2", vocab_size=300), None, hf)
    config = json.loads((hf / "config.json").read_text())
    (hf / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    assert_one_line_error(run_gptkit("import", hf, "--out", tmp_path / "m"), "unsupported model_type 'llama'")
    (hf / "config.json").write_text(json.dumps({**config, "activation_function": "relu"}))
    with pytest.raises(InputError, match="unsupported activation"):
        load_model(hf)

    (hf / "config.json").write_text(json.dumps(config))
    (hf / "model.safetensors").unlink()
    torch.save({"weights": object()}, hf / "pytorch_model.bin")  # needs arbitrary unpickling
    with pytest.raises(InputError, match="refusing to unpickle"):
        load_model(hf)
    (hf / "pytorch_model.bin").unlink()
    assert_one_line_error(run_gptkit("import", hf, "--out", tmp_path / "m"), "no weights")
    assert_one_line_error(run_gptkit("import", tmp_path / "nowhere", "--out", tmp_path / "m"), "config.json")


def test_export_writes_a_model_card_from_the_run(tmp_path):
    """README.md names the architecture, the training data by manifest hash, the tokens trained
    and the run's eval results, like a hub model card."""
    from train_data import make_token_dir, tiny_config

    from gptkit.train.trainer import train

    tokens = make_token_dir(tmp_path / "tokens")
    run = tmp_path / "run"
    train(tiny_config(tokens, run, steps=4, eval_interval=2))
    (run / "eval" / "0shot").mkdir(parents=True)
    (run / "eval" / "0shot" / "results.json").write_text(json.dumps(
        {"results": {"lambada": {"alias": "lambada", "acc,none": 0.25, "acc_stderr,none": 0.1}},
         "gptkit": {"shots": "0"}}))  # fmt: skip
    proc = run_gptkit("export", run, "--out", tmp_path / "hf")
    assert proc.returncode == 0, proc.stderr
    card = (tmp_path / "hf" / "README.md").read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    assert card.startswith("---\nlibrary_name: transformers")
    assert f"| tokens | {manifest['counts']['tokens']:,} |" in card
    assert all(record["hash"] in card for record in manifest["inputs"]) and manifest["inputs"]
    assert "| lambada | 0 | acc | 0.25 |" in card
    assert "acc_stderr" not in card
