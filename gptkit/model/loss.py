"""Cross-entropy of the output layer without materialising the full logits.

With a large vocabulary the output layer dominates small models (74% of the FLOPs of a
4 × 256 model with 40k tokens), and the eager path ``F.cross_entropy(hidden @ W.T)`` streams
several ``rows × vocab`` fp32 tensors through memory: the logits, their log-softmax, the
gradient of each. :func:`chunked_lm_loss` instead takes ``chunk_rows`` rows at a time, computes
their logits, loss *and* gradients at once (the loss is the graph's last node, so the gradient
of the logits, ``softmax − one_hot``, is known in the forward pass) and keeps only the
gradients of the hidden states and of the weight for backward. A chunk's softmax is its
gradient once the target's 1 is subtracted, and the mean's 1/N goes into the narrow matmul
operands: each (rows, vocab) block is written twice (logits, softmax), not four times. The
matmul FLOPs are the same as the eager path's.
"""

from __future__ import annotations

import torch

#: Rows per chunk, set by measurement: the weight-gradient matmul's inner dimension is the chunk,
#: and two threads split each chunk's matmuls, so short chunks leave both idle more. Memory per
#: chunk: two fp32 blocks of 512 × vocabulary (164 MB at 40k tokens).
CHUNK_ROWS = 512


def chunked_lm_loss(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_rows: int = CHUNK_ROWS
) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T`` ``(N, V)`` against ``targets`` ``(N,)``
    (``-1`` = ignored), as ``F.cross_entropy(..., ignore_index=-1)`` on fp32 logits computes it.

    ``hidden`` ``(N, C)`` and ``weight`` ``(V, C)`` must have one dtype (under autocast the
    caller casts them); logits and the softmax are at least fp32.
    """
    if hidden.dtype != weight.dtype:
        raise ValueError(f"hidden ({hidden.dtype}) and weight ({weight.dtype}) must have one dtype")
    want_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    return _ChunkedLMLoss.apply(hidden, weight, targets, chunk_rows, want_grad)


class _ChunkedLMLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_rows, want_grad):
        n_valid = (targets != -1).sum()
        total = torch.zeros((), dtype=_accumulator(hidden.dtype), device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_grad else None
        grad_weight = torch.zeros_like(weight, dtype=_accumulator(weight.dtype)) if want_grad else None
        for start in range(0, hidden.size(0), chunk_rows):
            h, t = hidden[start : start + chunk_rows], targets[start : start + chunk_rows]
            logits = (h @ weight.T).to(_accumulator(hidden.dtype))
            picked = t.clamp(min=0)[:, None]
            # each valid row's share of d(mean loss): the gradient (softmax − one_hot) is scaled
            # through the narrow matmul operands, never through the (rows, vocab) block
            scale = ((t != -1).to(logits.dtype) / n_valid.clamp(min=1))[:, None]
            if not want_grad:
                nll = -torch.log_softmax(logits, dim=-1).gather(1, picked)
                total += (nll * scale).sum()
                continue
            probs = torch.softmax(logits, dim=-1)  # also the gradient, once the one-hot is taken off
            total += (_picked_nll(probs, logits, picked) * scale).sum()
            g = probs.scatter_add_(1, picked, torch.full(picked.shape, -1.0, dtype=probs.dtype,
                                                         device=probs.device)).to(hidden.dtype)  # fmt: skip
            row_scale = scale.to(hidden.dtype)
            torch.matmul(g, weight, out=grad_hidden[start : start + chunk_rows])
            grad_hidden[start : start + chunk_rows] *= row_scale
            _add_outer(grad_weight, g, h * row_scale)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total  # nothing to learn (all ignored): 0, no gradient

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, (grad_weight * grad_loss).to(ctx.weight_dtype), None, None, None


def _picked_nll(probs: torch.Tensor, logits: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
    """−log p(target) per row ``(rows, 1)`` from the softmax; rows whose probability underflows
    (below 1e-30) are recomputed from their logits."""
    p = probs.gather(1, picked)
    nll = -torch.log(p)
    tiny = (p < 1e-30).squeeze(1)
    if bool(tiny.any()):
        nll[tiny] = torch.logsumexp(logits[tiny], dim=-1, keepdim=True) - logits[tiny].gather(1, picked[tiny])
    return nll


def _add_outer(acc: torch.Tensor, g: torch.Tensor, h: torch.Tensor) -> None:
    """``acc += g.T @ h`` with an fp32 accumulator (in place when the inputs are fp32)."""
    if g.dtype == acc.dtype:
        acc.addmm_(g.T, h)
    else:
        acc.add_(g.T @ h)


def _accumulator(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)
