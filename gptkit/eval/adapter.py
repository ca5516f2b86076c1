"""An lm-evaluation-harness model (``TemplateLM``) over a gptkit GPT and its tokenizer.

- ``loglikelihood``: requests sorted longest first and batched (right-padded); the output
  layer is applied only at the continuation's positions (for small models it is most of the
  work), log-softmax in float32. Contexts longer than the model's window are left-truncated
  exactly as lm-eval's ``hf`` backend does, so both give the same numbers on the same weights.
- ``loglikelihood_rolling``: lm-eval's disjoint rolling windows, scored the same way.
- ``generate_until``: greedy decoding on the KV cache, a batch at a time: contexts are
  left-padded, padding is masked out and positions start at each row's first real token.
  Rows stop at ``<|endoftext|>``, at any ``until`` string or after ``max_gen_toks``; contexts
  are left-truncated to leave room for the answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text

from gptkit.errors import UsageError
from gptkit.model.gpt import GPT
from gptkit.reporting import NULL_REPORTER, Reporter

Request = tuple[Any, list[int], list[int]]  # ((context, continuation) | None, context ids, continuation ids)


class GptkitLM(TemplateLM):
    """``lm_eval`` model over ``model`` (a :class:`GPT`) and ``tokenizer`` (``load_tokenizer``'s)."""

    backend = "causal"

    def __init__(
        self, model: GPT, tokenizer: Any, batch_size: int = 16, max_gen_toks: int = 256,
        reporter: Reporter = NULL_REPORTER,
    ):  # fmt: skip
        super().__init__()
        self.model = model.eval()
        self.tok = tokenizer
        self.batch_size = batch_size
        self.max_length = model.config.block_size
        self.max_gen_toks = max_gen_toks
        self.reporter = reporter
        self._device = next(model.parameters()).device

    # --- tokens ---------------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tok.eot_id

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        # like a transformers GPT-2 tokenizer: "<|endoftext|>" in the text is the special token
        return self.tok.encode(string, allowed_special="all")

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = True) -> list[tuple[float, bool]]:
        return super().loglikelihood(requests, disable_tqdm=True)  # progress goes to the reporter

    # --- the network ----------------------------------------------------------------------
    def _hidden(
        self, idx: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None = None,
        kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None, start: int = 0,
    ) -> torch.Tensor:  # fmt: skip
        """The final hidden states (B, T, C): the model's forward pass without the output layer,
        with explicit positions (B, T) and attention mask (so rows can be left-padded).
        ``kv``: per layer, the KV-cache buffers ``idx``'s keys and values are written to at ``start``."""
        tr = self.model.transformer
        x = tr.wte(idx) + tr.wpe(pos)
        for block, layer_kv in zip(tr.h, kv if kv is not None else [None] * len(tr.h), strict=True):
            x = block(x, mask, layer_kv, start)
        return tr.ln_f(x)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(hidden)[..., : self.model.config.vocab_size].float()

    # --- log-likelihoods --------------------------------------------------------------------
    def _loglikelihood_tokens(
        self, requests: Sequence[Request], disable_tqdm: bool = False, **kwargs: Any
    ) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: -(len(requests[i][1]) + len(requests[i][2])))
        with self.reporter.task("log-likelihoods", total=len(requests), unit="requests") as bar:
            for chunk in _batches(order, self.batch_size):
                rows = []
                for i in chunk:
                    _, ctx, cont = requests[i]
                    if not ctx or not cont or len(cont) > self.max_length:
                        raise ValueError(
                            f"bad request: {len(ctx)} context and {len(cont)} continuation tokens"
                        )
                    # left-truncate to the window, as lm-eval's hf backend does
                    rows.append(((ctx + cont)[-(self.max_length + 1) :][:-1], cont))
                for i, score in zip(chunk, self._score_batch(rows), strict=True):
                    results[i] = score
                    key = requests[i][0]
                    if key is not None:
                        self.cache_hook.add_partial("loglikelihood", key, score)
                bar.advance(len(chunk))
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _score_batch(self, rows: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        width = max(len(inp) for inp, _ in rows)
        idx = torch.full((len(rows), width), self.eot_token_id, dtype=torch.long)
        for b, (inp, _) in enumerate(rows):
            idx[b, : len(inp)] = torch.tensor(inp)
        idx = idx.to(self._device)
        pos = torch.arange(width, device=self._device).expand(len(rows), width)
        hidden = self._hidden(idx, pos)  # right padding: causal attention never sees it
        # the output layer only where continuation tokens are predicted
        picked = torch.cat([hidden[b, len(inp) - len(cont) : len(inp)] for b, (inp, cont) in enumerate(rows)])
        logprobs = torch.log_softmax(self._logits(picked), dim=-1)
        targets = torch.tensor([t for _, cont in rows for t in cont], device=self._device)
        token_lp = logprobs.gather(1, targets[:, None]).squeeze(1)
        greedy = logprobs.argmax(dim=-1) == targets
        out, at = [], 0
        for _, cont in rows:
            n = len(cont)
            out.append((float(token_lp[at : at + n].sum()), bool(greedy[at : at + n].all())))
            at += n
        return out

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        windows: list[Request] = []
        owners: list[int] = []
        for r, (text,) in enumerate(req.args for req in requests):
            for ctx, cont in map(
                lm_utils.make_disjoint_window,
                lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(text), prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length, context_len=1,
                ),
            ):  # fmt: skip
                windows.append((None, ctx, cont))
                owners.append(r)
        totals = [0.0] * len(requests)
        for r, (logprob, _) in zip(owners, self._loglikelihood_tokens(windows), strict=True):
            totals[r] += logprob
        for req, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    # --- generation -------------------------------------------------------------------------
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        results: list[str | None] = [None] * len(requests)
        encoded = [self.tok_encode(req.args[0]) for req in requests]
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(requests):  # one batch shape per set of generation settings
            groups.setdefault(repr(sorted(req.args[1].items())), []).append(i)
        eos = self.tok.decode([self.eot_token_id])
        with self.reporter.task("generation", total=len(requests), unit="requests") as bar:
            for members in groups.values():
                gen_kwargs = normalize_gen_kwargs(requests[members[0]].args[1], self.max_gen_toks)
                if gen_kwargs.get("do_sample"):
                    raise UsageError(
                        "gptkit eval decodes greedily; tasks that sample (do_sample=true) are not supported"
                    )
                until = handle_stop_sequences(gen_kwargs.get("until"), eos=eos)
                max_new = int(gen_kwargs["max_gen_toks"])
                if max_new >= self.max_length:
                    raise UsageError(
                        f"max_gen_toks {max_new} leaves no room for a context in the model's {self.max_length} "
                        "tokens (lower it, e.g. --set eval.coqa.max_gen_toks=16)"
                    )
                members.sort(key=lambda i: -len(encoded[i]))
                for chunk in _batches(members, self.batch_size):
                    contexts = [encoded[i][-(self.max_length - max_new) :] for i in chunk]
                    for i, text in zip(chunk, self._greedy(contexts, until, max_new), strict=True):
                        results[i] = postprocess_generated_text(text, until, None)
                        self.cache_hook.add_partial("generate_until", requests[i].args, results[i])
                    bar.advance(len(chunk))
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _greedy(self, contexts: list[list[int]], until: list[str], max_new: int) -> list[str]:
        """Greedy continuations of left-padded ``contexts`` on a KV cache; decoded text per row.

        Rows that are done (end of text, a stop string) leave the batch, cache included."""
        B, width, dev = len(contexts), max(len(c) for c in contexts), self._device
        pads = torch.tensor([width - len(c) for c in contexts], device=dev)
        idx = torch.full((B, width), self.eot_token_id, dtype=torch.long)
        for b, c in enumerate(contexts):
            idx[b, width - len(c) :] = torch.tensor(c)
        idx = idx.to(dev)
        t = torch.arange(width, device=dev)
        real = t[None, :] >= pads[:, None]  # (B, width): not padding
        # a query sees real keys up to itself; padding rows see themselves (never used)
        diagonal = torch.eye(width, dtype=torch.bool, device=dev)
        mask = (real[:, None, :] & (t[None, :, None] >= t[None, None, :])) | diagonal
        pos = (t[None, :] - pads[:, None]).clamp(min=0)
        cache = self.model.new_cache(B, width + max_new)
        kv = list(zip(cache.keys, cache.values, strict=True))
        logits = self._logits(self._hidden(idx, pos, mask[:, None], kv)[:, -1])
        keys_real = torch.cat([real, torch.ones(B, max_new, dtype=torch.bool, device=dev)], dim=1)
        generated: list[list[int]] = [[] for _ in range(B)]
        rows = list(range(B))  # the original row of each row still in the batch
        for step in range(max_new):
            nxt = logits.argmax(dim=-1)
            keep = []
            for i, token in enumerate(nxt.tolist()):
                out = generated[rows[i]]
                if token != self.eot_token_id:
                    out.append(token)
                    if not any(s and s in self.tok.decode(out) for s in until):
                        keep.append(i)
            if not keep or step == max_new - 1:
                break
            if len(keep) < len(rows):
                sel = torch.tensor(keep, device=dev)
                kv = [(k[sel], v[sel]) for k, v in kv]
                nxt, pads, keys_real = nxt[sel], pads[sel], keys_real[sel]
                rows = [rows[i] for i in keep]
            at = width + step
            hidden = self._hidden(
                nxt[:, None], (at - pads)[:, None], keys_real[:, None, None, : at + 1], kv, at
            )
            logits = self._logits(hidden[:, -1])
        return [self.tok.decode(g) for g in generated]


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
