"""The chunked output-layer cross-entropy against the eager path (full logits + F.cross_entropy)."""

import pytest
import torch
from torch.nn import functional as F

from gptkit.model.gpt import GPT, preset
from gptkit.model.loss import chunked_lm_loss

torch.set_num_threads(1)

VOCAB = 300  # not a multiple of 64: the embedding's padding rows must never be predicted


def _eager_loss(model: GPT, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model.logits(model.hidden(x))
    return F.cross_entropy(logits.reshape(-1, VOCAB).float(), y.reshape(-1), ignore_index=-1)


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 1000])  # one row, ragged last chunk, one chunk
def test_loss_and_gradients_equal_the_eager_path(chunk_rows):
    torch.manual_seed(0)
    hidden = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(VOCAB, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, VOCAB, (50,))
    targets[[3, 10, 11]] = -1
    want = F.cross_entropy(hidden @ weight.T, targets, ignore_index=-1)
    want_grads = torch.autograd.grad(2.5 * want, (hidden, weight))
    got = chunked_lm_loss(hidden, weight, targets, chunk_rows)
    got_grads = torch.autograd.grad(2.5 * got, (hidden, weight))  # a scaled upstream gradient
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    assert not got_grads[0][[3, 10, 11]].any()  # ignored rows get no gradient


def test_a_target_whose_probability_underflows_keeps_its_exact_loss():
    """p(target) = e^-200 is 0 in fp32: the loss comes from the logits, not log(0)."""
    hidden = torch.tensor([[1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    weight = torch.tensor([[0.0, 0.0], [200.0, 0.0], [0.0, 1.0]], requires_grad=True)
    targets = torch.tensor([0, 1])
    want = F.cross_entropy(hidden @ weight.T, targets)
    got = chunked_lm_loss(hidden, weight, targets, 1)
    assert got.item() == pytest.approx(want.item(), rel=1e-6) and got.item() == pytest.approx(100.0, rel=1e-6)
    got_grads = torch.autograd.grad(got, (hidden, weight))
    for g, w in zip(got_grads, torch.autograd.grad(want, (hidden, weight)), strict=True):
        torch.testing.assert_close(g, w)


def test_training_curve_matches_the_eager_path():
    """20 AdamW steps of two identical models: the fused LM loss and the eager one agree to 1e-4."""
    curves = []
    for loss_of in (lambda m, x, y: m(x, y)[1], _eager_loss):
        torch.manual_seed(0)
        model = GPT(preset("nano", vocab_size=VOCAB))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        data = torch.Generator().manual_seed(1)
        curve = []
        for _ in range(20):
            start = torch.randint(0, VOCAB, (4, 1), generator=data)
            x = (start + 7 * torch.arange(32)) % VOCAB  # a learnable next token
            y = torch.roll(x, -1, dims=1)
            y[:, -1] = -1
            loss = loss_of(model, x, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            curve.append(loss.item())
        curves.append(curve)
    fused, eager = curves
    assert eager[-1] < eager[0] - 0.5  # the model learns: the comparison is not between constants
    assert fused == pytest.approx(eager, rel=1e-4)


def test_autocast_and_no_grad():
    torch.manual_seed(0)
    model = GPT(preset("nano", vocab_size=VOCAB))
    x = torch.randint(0, VOCAB, (2, 24))
    y = torch.randint(0, VOCAB, (2, 24))
    with torch.no_grad():
        fp32 = model(x, y)[1]
        assert fp32.grad_fn is None  # validation computes no gradients
        assert fp32.item() == pytest.approx(_eager_loss(model, x, y).item(), rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(x, y)[1]
    bf16.backward()
    assert bf16.item() == pytest.approx(fp32.item(), rel=2e-2)
    assert model.transformer.wte.weight.grad.dtype == torch.float32
    assert not model.transformer.wte.weight.grad[VOCAB:].any()  # padding rows: never predicted


def test_model_loss_with_mostly_ignored_targets_and_with_none_to_learn():
    """SFT's batches: most targets ignored (only the assistant's tokens learnt) give the eager loss and
    gradients; a batch whose conversations were all cut before a learnt token gives 0 and no gradient."""
    torch.manual_seed(0)
    model = GPT(preset("nano", vocab_size=VOCAB))
    x = torch.randint(0, VOCAB, (3, 20))
    y = torch.randint(0, VOCAB, (3, 20))
    y[torch.rand(3, 20) < 0.7] = -1
    _eager_loss(model, x, y).backward()
    eager = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    loss = model(x, y)[1]
    loss.backward()
    assert loss.item() == pytest.approx(_eager_loss(model, x, y).item(), rel=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, eager[name], rtol=1e-5, atol=1e-7)
    model.zero_grad()
    nothing = model(x, torch.full_like(y, -1))[1]
    nothing.backward()
    assert nothing.item() == 0.0 and not any(p.grad.any() for p in model.parameters() if p.grad is not None)
