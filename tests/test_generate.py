"""Sampling: greedy equals the uncached argmax, seeds reproduce, filters, EOT stop, long contexts."""

import pytest
import torch

from gptkit.train.generate import SamplingConfig, generate_ids, next_token_distribution
from gptkit.train.model import GPT, preset

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
