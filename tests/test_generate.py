"""Sampling: greedy equals the uncached argmax, seeds reproduce, filters, EOT stop, long contexts."""

import pytest
import torch
from conftest import assert_one_line_error, run_gptkit

from gptkit.model.generate import Request, SamplingConfig, generate, generate_ids, next_token_distribution
from gptkit.model.gpt import GPT, preset

torch.set_num_threads(1)

VOCAB = 101


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(preset("nano", vocab_size=VOCAB)).eval()


def _greedy_without_cache(model, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        logits = model(torch.tensor([ids]))[0, -1]
        ids.append(int(logits.argmax()))
    return ids[len(prompt) :]


def test_greedy_with_kv_cache_equals_uncached_argmax(model):
    prompt = [5, 17, 42]
    got = list(generate_ids(model, prompt, SamplingConfig(max_tokens=20, temperature=0)))
    assert got == _greedy_without_cache(model, prompt, 20)
    assert list(generate_ids(model, prompt, SamplingConfig(max_tokens=20, top_k=1))) == got


def test_seed_reproduces_and_differs(model):
    def sample(seed):
        return list(generate_ids(model, [1, 2, 3], SamplingConfig(max_tokens=30, temperature=1.5, seed=seed)))

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)
    assert len(sample(7)) == 30


def test_stops_at_end_of_text(model):
    first = _greedy_without_cache(model, [9], 1)[0]
    greedy = SamplingConfig(max_tokens=10, temperature=0)
    assert list(generate_ids(model, [9], greedy, eot_id=first)) == []
    keep_going = SamplingConfig(max_tokens=10, temperature=0, stop_at_eot=False)
    assert list(generate_ids(model, [9], keep_going, eot_id=first))[0] == first


def test_generation_continues_past_the_context(model):
    prompt = list(range(60))  # block_size is 64
    got = list(generate_ids(model, prompt, SamplingConfig(max_tokens=40, seed=0)))
    assert len(got) == 40 and all(0 <= t < VOCAB for t in got)
    assert list(generate_ids(model, prompt, SamplingConfig(max_tokens=0))) == []


def test_top_k_and_top_p_filtering():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    top2 = next_token_distribution(logits, SamplingConfig(top_k=2))
    assert torch.allclose(top2, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    nucleus = next_token_distribution(logits, SamplingConfig(top_p=0.7))  # 0.5 + 0.3 reaches 0.7
    assert torch.allclose(nucleus, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert torch.allclose(
        next_token_distribution(logits, SamplingConfig(top_p=0.4)), torch.tensor([[1.0, 0, 0, 0]])
    )
    hot = next_token_distribution(logits, SamplingConfig(temperature=2.0))
    assert torch.allclose(hot, torch.softmax(logits / 2, dim=-1))
    greedy = next_token_distribution(torch.tensor([[0.1, 3.0, 0.2]]), SamplingConfig(temperature=0))
    assert greedy.tolist() == [[0.0, 1.0, 0.0]]


def test_bad_sampling_options():
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)
    with pytest.raises(ValueError, match="prompt_lookup"):
        SamplingConfig(prompt_lookup=-1)


@pytest.fixture(scope="module")
def gpt2_model_dir(tmp_path_factory):
    from conftest import shared_path

    from gptkit.model.store import save_model
    from gptkit.tokenizer import load_tokenizer

    tok = load_tokenizer(shared_path("tokenizers/gpt2"))
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gen") / "model"
    save_model(path, GPT(preset("nano", vocab_size=tok.vocab_size)), tok)
    return path


def test_generate_text_streams_whole_characters(gpt2_model_dir):
    from gptkit.model.generate import generate_text
    from gptkit.model.store import load_model

    model, tok = load_model(gpt2_model_dir)
    config = SamplingConfig(max_tokens=40, seed=3, temperature=2.0)
    pieces = list(generate_text(model, tok, "Zürich is", config))
    ids = list(generate_ids(model, tok.encode("Zürich is"), config, eot_id=tok.eot_id))
    assert "".join(pieces) == tok.decode(ids)
    assert len(pieces) > 1


def test_generate_command(gpt2_model_dir, tmp_path):
    args = ("generate", gpt2_model_dir, "--prompt", "The meaning of life is", "--max-tokens", "12", "--seed", "5")
    first, second = run_gptkit(*args), run_gptkit(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("The meaning of life is") and len(first.stdout) > len("The meaning of life is")
    greedy = run_gptkit("generate", gpt2_model_dir, "-p", "Hi", "--max-tokens", "8", "--temperature", "0", "-n", "2")
    assert greedy.returncode == 0, greedy.stderr
    half = len(greedy.stdout) // 2
    assert greedy.stdout[:half] == greedy.stdout[half:]  # two samples, the same: greedy ignores the seed

    assert_one_line_error(run_gptkit("generate", tmp_path / "missing", "-p", "x"), "no such model directory")
    assert_one_line_error(run_gptkit("generate", gpt2_model_dir, "--top-p", "2"), "--top-p")


# --- the batched decoder -------------------------------------------------------------------------


class ByteTokenizer:
    """Token i is the byte i: what the decoder needs (``token_bytes``) to find stop strings."""

    @staticmethod
    def token_bytes(token: int) -> bytes:
        return bytes([token])


PROMPTS = [[5, 17, 42], [9], list(range(30, 58)), [3, 3, 3, 3, 3, 3, 3], [60, 61], list(range(1, 15))]


def test_batched_decode_with_mixed_prompt_lengths_equals_one_at_a_time(model):
    """Prompts of 1 to 28 tokens share a batch of 3 (rows refilled as they finish) and decode
    exactly the tokens each gives alone, which are the uncached model's argmax."""
    requests = [Request(p, max_tokens=4 + 3 * i) for i, p in enumerate(PROMPTS)]
    greedy = SamplingConfig(temperature=0)
    batched = generate(model, requests, greedy, batch_size=3)
    for request, completion in zip(requests, batched, strict=True):
        alone = generate(model, [request], greedy, batch_size=1)[0]
        assert completion.tokens == alone.tokens == _greedy_without_cache(model, request.prompt, request.max_tokens)
        assert completion.finish == "length"


def test_prompts_sharing_a_prefix_copy_its_cache_and_decode_the_same(model, monkeypatch):
    """Prompts that begin alike (one story, several questions; the same prompt twice) copy the
    keys and values of the shared tokens from a row in the batch, whether admitted with them or
    already decoding, and still decode the uncached model's argmax; seeded sampling is unchanged."""
    from gptkit.model.gpt import KVCache

    story = list(range(20, 60))
    prompts = [story + [1, 2], story + [1, 2], story + [3], [7, 8, 9], story[:30] + [4, 5], story + [1, 6, 6]]
    requests = [Request(p, max_tokens=3 + 4 * (i % 3)) for i, p in enumerate(prompts)]
    shared = []
    share = KVCache.share
    monkeypatch.setattr(KVCache, "share", lambda self, d, r, n: (shared.extend(n), share(self, d, r, n)))
    # one token per step (no prompt lookup), so that the rows running at each admission are known
    greedy = generate(model, requests, SamplingConfig(temperature=0, prompt_lookup=0), batch_size=3)
    for request, completion in zip(requests, greedy, strict=True):
        assert completion.tokens == _greedy_without_cache(model, request.prompt, request.max_tokens)
    # admitted together: the duplicate (41 tokens, its last one is computed) and story + [3] (40);
    # later, from rows still decoding: story[:30] + … (30) and story + [1, 6, 6] (40, from story + [3])
    assert shared == [41, 40, 30, 40]
    hot = SamplingConfig(temperature=1.2, seed=5)
    alone = [generate(model, [r], SamplingConfig(temperature=1.2, seed=5 + i), logprobs=True)[0]
             for i, r in enumerate(requests)]  # fmt: skip
    for mine, single in zip(generate(model, requests, hot, batch_size=3, logprobs=True), alone, strict=True):
        assert mine.tokens == single.tokens
        assert torch.allclose(torch.tensor(mine.logprobs), torch.tensor(single.logprobs), atol=1e-5)


def test_finished_rows_are_refilled_while_others_run(model):
    requests = [Request([1, 2], max_tokens=2), Request([4, 5, 6], max_tokens=12), Request([7], max_tokens=3)]
    events = []
    done = []
    out = generate(
        model, requests, SamplingConfig(temperature=0), batch_size=2,
        on_token=lambda i, token: events.append((i, token)), on_done=lambda i, c: done.append(i),
    )  # fmt: skip
    order = [i for i, _ in events]
    # request 2 starts in the row request 0 left, before request 1 (still running) is finished
    assert order.index(2) > max(j for j, i in enumerate(order) if i == 0)
    assert order.index(2) < max(j for j, i in enumerate(order) if i == 1)
    assert done == [0, 2, 1]
    assert [[t for i, t in events if i == r] for r in range(3)] == [c.tokens for c in out]
    assert [len(c.tokens) for c in out] == [2, 12, 3]


def test_stop_strings_and_stop_ids(model):
    prompt, hot = [10, 20, 30], SamplingConfig(temperature=3.0, seed=4)  # varied text, the same every time
    free = generate(model, [Request(prompt, 12)], hot)[0].tokens
    assert len(set(free)) > 6
    # a stop string spanning two tokens: the text ends with the token completing it
    stop = bytes(free[3:5]).decode("latin-1")
    first = next(i for i in range(len(free) - 1) if stop in bytes(free[: i + 2]).decode("latin-1"))
    stopped = generate(model, [Request(prompt, 12, stop=["\x7f\x7f", stop])], hot, tokenizer=ByteTokenizer())[0]
    assert stopped.tokens == free[: first + 2] and stopped.finish == "stop"
    # a stop id ends the text without being part of it
    k = next(i for i, t in enumerate(free) if t not in free[:i] and i > 0)
    by_id = generate(model, [Request(prompt, 12, stop_ids=[free[k]])], hot)[0]
    assert by_id.tokens == free[:k] and by_id.finish == "stop"
    with pytest.raises(ValueError, match="tokenizer"):
        generate(model, [Request(prompt, 3, stop=["x"])], SamplingConfig(temperature=0))


def test_sampling_with_a_seed_is_reproducible_and_independent_of_the_batch(model):
    config = SamplingConfig(temperature=1.3, top_k=50, seed=11)
    requests = [Request(p, max_tokens=15) for p in PROMPTS]
    batched = [c.tokens for c in generate(model, requests, config, batch_size=4)]
    assert batched == [c.tokens for c in generate(model, requests, config, batch_size=4)]
    assert batched == [c.tokens for c in generate(model, requests, config, batch_size=1)]
    other = [c.tokens for c in generate(model, requests, SamplingConfig(temperature=1.3, top_k=50, seed=12))]
    assert other != batched


def test_logprobs_are_those_of_the_model(model):
    prompt = [8, 6, 4, 2]
    out = generate(model, [Request(prompt, 6)], SamplingConfig(temperature=0.7, seed=1), logprobs=True)[0]
    ids = torch.tensor([prompt + out.tokens])
    expected = torch.log_softmax(model(ids)[0, len(prompt) - 1 : -1] / 0.7, dim=-1)
    assert torch.allclose(torch.tensor(out.logprobs), expected.gather(1, torch.tensor(out.tokens)[:, None])[:, 0],
                          atol=1e-5)  # fmt: skip
    assert generate(model, [Request(prompt, 0)], SamplingConfig())[0].tokens == []


def test_prompt_lookup_drafts_what_followed_the_last_ngram():
    from gptkit.model.generate import _PromptLookup

    tokens = [1, 2, 3, 4, 5, 9, 2, 3, 7, 1, 2, 3]
    lookup = _PromptLookup(tokens)
    assert lookup.draft(3) == [4, 5, 9]  # (1, 2, 3) ends at 3 earlier: the 3-gram wins over (2, 3) → 7
    tokens += [8]
    assert lookup.draft(2) == []  # (2, 3, 8) and (3, 8) are new
    tokens += [6, 6, 6]
    assert lookup.draft(5) == [6, 6, 6, 6, 6]  # a span running into the present repeats
    tokens += [2, 3]
    assert lookup.draft(4) == [8, 6, 6, 6]  # (6, 2, 3) is new: what followed the latest (2, 3)


def test_greedy_decoding_checks_drafts_and_keeps_the_same_tokens(monkeypatch):
    """With prompt lookup, greedy decoding takes fewer model steps and yields the same tokens as
    one token per step: drafts kept, drafts cut where the text changes course, rows refilled, a
    stop string, a stop id, a context that fills up and is rebuilt."""
    torch.manual_seed(0)
    model = GPT(preset("nano", vocab_size=VOCAB)).eval()
    with torch.no_grad():  # larger weights: runs of one token that change course, not one loop
        for weight in (p for p in model.parameters() if p.dim() > 1):
            weight.mul_(5)
    steps = []
    hidden = GPT.hidden
    monkeypatch.setattr(GPT, "hidden", lambda self, idx, **kw: (steps.append(idx.shape), hidden(self, idx, **kw))[1])
    prompts = [*PROMPTS, [7, 8, 9] * 8, list(range(60))]
    requests = [Request(p, 30) for p in prompts]
    free = [c.tokens for c in generate(model, requests, SamplingConfig(temperature=0, prompt_lookup=0))]
    turns = [next(i for i in range(3, 29) if tokens[i] != tokens[i + 1]) for tokens in free[:2]]
    requests[0].stop = [bytes(free[0][turns[0] : turns[0] + 2]).decode("latin-1")]
    requests[1].stop_ids = [free[1][turns[1] + 1]]
    runs = {}
    for lookup in (0, 8):
        steps.clear()
        config = SamplingConfig(temperature=0, prompt_lookup=lookup)
        out = generate(model, requests, config, batch_size=3, tokenizer=ByteTokenizer())
        runs[lookup] = [(c.tokens, c.finish) for c in out], len(steps)
    assert runs[8][0] == runs[0][0]
    assert [len(tokens) for tokens, _ in runs[8][0][:2]] == [turns[0] + 2, turns[1] + 1]
    assert any(width > 1 for _, width in steps) and runs[8][1] < runs[0][1]
    for request, (tokens, _) in zip(requests[:-1], runs[8][0], strict=False):  # prompts that fit: uncached argmax
        assert tokens == _greedy_without_cache(model, request.prompt, 30)[: len(tokens)]


def test_greedy_decoding_follows_weights_changed_in_place():
    """The greedy head is built once per model; training the weights in place rebuilds it."""
    torch.manual_seed(3)
    model = GPT(preset("nano", vocab_size=20000)).eval()  # large enough to be screened
    prompt = [4, 8, 15]
    greedy = SamplingConfig(max_tokens=12, temperature=0)
    before = list(generate_ids(model, prompt, greedy))
    assert before == _greedy_without_cache(model, prompt, 12)
    with torch.no_grad():
        weight = model.lm_head.weight  # as an optimizer step does: the same tensor, new values
        weight[42] = 5 * weight[prompt[-1]]
    after = list(generate_ids(model, prompt, greedy))
    assert after == _greedy_without_cache(model, prompt, 12) and after != before


def test_greedy_decoding_of_a_model_made_in_inference_mode():
    """Weights created under ``torch.inference_mode`` (no version counter) decode greedily too."""
    torch.manual_seed(4)
    with torch.inference_mode():
        model = GPT(preset("nano", vocab_size=20000)).eval()
        expected = _greedy_without_cache(model, [4, 8, 15], 5)
    greedy = SamplingConfig(max_tokens=5, temperature=0)
    assert list(generate_ids(model, [4, 8, 15], greedy)) == expected


def _screens():
    from gptkit.model.generate import _Bfloat16Screen, _Int8Screen

    int8 = pytest.mark.skipif(not _Int8Screen.available(), reason="no oneDNN int8 kernels with VNNI here")
    return [_Bfloat16Screen, pytest.param(_Int8Screen, marks=int8)]


@pytest.mark.parametrize("screen", _screens(), ids=["bfloat16", "int8"])
def test_greedy_head_is_the_float32_argmax(screen):
    """The screened argmax equals float32's, near-ties and flat logits included."""
    from gptkit.model.generate import _GreedyHead

    torch.manual_seed(0)
    weight = torch.randn(5000, 64) * 0.02
    weight[7] = weight[3] + 1e-6  # two tokens neither screen can tell apart
    head = _GreedyHead(weight, screen)
    for hidden in (torch.randn(32, 64), torch.randn(32, 64) * 40, torch.randn(32, 64) * 1e-3, weight[3:4] * 40):
        assert torch.equal(head.argmax(hidden), (hidden @ weight.T).argmax(dim=-1))
    assert head.argmax(weight[3:4] * 40).item() == 7


@pytest.mark.parametrize("screen", _screens(), ids=["bfloat16", "int8"])
def test_screen_error_bounds_hold(screen):
    """Every approximate logit is within the screen's bound of the exact one, for rows and
    weights of very different scales (the bound is what makes the greedy head exact)."""
    torch.manual_seed(1)
    weight = torch.randn(3000, 96) * torch.logspace(-3, 0, 3000)[:, None]
    hidden = torch.randn(24, 96) * torch.logspace(-2, 2, 24)[:, None]
    hidden[0, 5] = 50.0  # one outlier coordinate
    weight[-1] = torch.randn(96).sign()  # every product of row 1 and token -1 at the int8 extremes
    hidden[1] = 3 * weight[-1]
    approx, error, scale = (t.double() for t in screen(weight)(hidden))
    exact = hidden.double() @ weight.double().T
    assert bool(((approx * scale[:, None] - exact).abs() <= (error * scale)[:, None]).all())
    assert bool((error * scale < 0.05 * hidden.norm(dim=-1) * weight.norm(dim=-1).max()).all())  # a sharp screen
