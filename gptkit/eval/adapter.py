"""An lm-evaluation-harness model (``TemplateLM``) over a gptkit GPT and its tokenizer.

- ``loglikelihood``: requests sorted longest first and batched (right-padded); the output
  layer is applied only at the continuation's positions (for small models it is most of the
  work), log-softmax in float32. Contexts longer than the model's window are left-truncated
  exactly as lm-eval's ``hf`` backend does, so both give the same numbers on the same weights.
- ``loglikelihood_rolling``: lm-eval's disjoint rolling windows, scored the same way.
- ``generate_until``: greedy decoding on gptkit's batched KV-cache decoder
  (:func:`gptkit.model.generate.generate`, which checks up to ``prompt_lookup`` tokens copied
  from the context in one step): rows stop at ``<|endoftext|>`` (and a chat model's
  end of turn, as the exported ``generation_config.json`` makes HFLM stop), at any ``until``
  string or after ``max_gen_toks`` and are refilled with the next request; contexts are
  left-truncated to leave room for the answer, as lm-eval's ``hf`` backend does.
- ``apply_chat_template``: with a chat template (a model tuned by ``gptkit sft``), lm-eval renders
  each prompt (system instruction, demos as turns or one turn, the question) through it, as with
  ``lm_eval --apply_chat_template`` on the exported model's ``HFLM``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text

from gptkit.chat.template import ChatTemplate, render_text, stop_ids_of
from gptkit.errors import UsageError
from gptkit.model import generate as decoder
from gptkit.model.gpt import GPT, padded
from gptkit.reporting import NULL_REPORTER, Reporter

Request = tuple[Any, list[int], list[int]]  # ((context, continuation) | None, context ids, continuation ids)


class GptkitLM(TemplateLM):
    """``lm_eval`` model over ``model`` (a :class:`GPT`) and ``tokenizer`` (``load_tokenizer``'s)."""

    backend = "causal"

    def __init__(
        self, model: GPT, tokenizer: Any, batch_size: int = 16, max_gen_toks: int = 256,
        reporter: Reporter = NULL_REPORTER, template: ChatTemplate | None = None, prompt_lookup: int = 8,
    ):  # fmt: skip
        super().__init__()
        self.model = model.eval()
        self.tok = tokenizer
        self.template = template
        self.batch_size = batch_size
        self.max_length = model.config.block_size
        self.max_gen_toks = max_gen_toks
        self.reporter = reporter
        self.prompt_lookup = prompt_lookup
        self._device = next(model.parameters()).device

    # --- tokens ---------------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tok.eot_id

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        # like a transformers GPT-2 tokenizer: "<|endoftext|>" in the text is the special token
        return self.tok.encode(string, allowed_special="all")

    # --- chat templates ---------------------------------------------------------------------
    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt as the model's template renders it; without ``add_generation_prompt`` (a task
        that prefills the answer) the last message stays open, as HFLM's ``continue_final_message``."""
        if self.template is None:
            raise UsageError("this model was given no chat template (it needs one tuned by 'gptkit sft')")
        return render_text(self.template, chat_history, add_generation_prompt, continue_final=not add_generation_prompt)

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        """The Jinja template transformers would use (what lm-eval records in its results)."""
        if not chat_template or self.template is None:
            return None
        return self.tok.extra_config.get("chat_template")

    @property
    def tokenizer_name(self) -> str:
        return f"gptkit-{self.tok.hash.split(':')[-1][:16]}"

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = True) -> list[tuple[float, bool]]:
        return super().loglikelihood(requests, disable_tqdm=True)  # progress goes to the reporter

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
        idx = padded([inp for inp, _ in rows], self.eot_token_id)
        hidden = self.model.hidden(idx.to(self._device))  # right padding: causal attention never sees it
        # the output layer only where continuation tokens are predicted
        picked = torch.cat([hidden[b, len(inp) - len(cont) : len(inp)] for b, (inp, cont) in enumerate(rows)])
        logprobs = torch.log_softmax(self.model.logits(picked).float(), dim=-1)
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
        results: list[str] = [""] * len(requests)
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(requests):  # one decoding run per set of generation settings
            groups.setdefault(repr(sorted(req.args[1].items())), []).append(i)
        with self.reporter.task("generation", total=len(requests), unit="requests") as bar:
            for members in groups.values():
                for i, text in self._generate_group([requests[i] for i in members], bar.advance).items():
                    results[members[i]] = text
        return results

    def _generate_group(self, requests: list[Any], advance: Any) -> dict[int, str]:
        """Greedy continuations of requests sharing generation settings, on the shared decoder
        (continuous batching); contexts are left-truncated to leave room for the answer."""
        gen_kwargs = normalize_gen_kwargs(requests[0].args[1], self.max_gen_toks)
        if gen_kwargs.get("do_sample"):
            raise UsageError("gptkit eval decodes greedily; tasks that sample (do_sample=true) are not supported")
        until = handle_stop_sequences(gen_kwargs.get("until"), eos=self.tok.decode([self.eot_token_id]))
        max_new = int(gen_kwargs["max_gen_toks"])
        if max_new >= self.max_length:
            raise UsageError(
                f"max_gen_toks {max_new} leaves no room for a context in the model's {self.max_length} "
                "tokens (lower it, e.g. --set eval.coqa.max_gen_toks=16)"
            )
        prompts = [self.tok_encode(req.args[0])[-(self.max_length - max_new) :] for req in requests]
        order = sorted(range(len(requests)), key=lambda i: prompts[i])  # shared prefixes decode together
        decode_requests = [decoder.Request(prompts[i], max_new, stop=until, stop_ids=stop_ids_of(self.tok)) for i in order]
        texts: dict[int, str] = {}

        def done(j: int, completion: decoder.Completion) -> None:
            i = order[j]
            texts[i] = postprocess_generated_text(self.tok.decode(completion.tokens), until, None)
            self.cache_hook.add_partial("generate_until", requests[i].args, texts[i])
            advance(1)

        greedy = decoder.SamplingConfig(max_tokens=max_new, temperature=0, prompt_lookup=self.prompt_lookup)
        decoder.generate(self.model, decode_requests, greedy, batch_size=self.batch_size, tokenizer=self.tok, on_done=done)
        return texts


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
