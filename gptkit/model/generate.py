"""The one batched KV-cache decoder: samples, ``gptkit generate``, eval's ``generate_until``,
later chat and PPO rollouts all decode here.

:func:`generate` decodes many :class:`Request` s together. Each row of the batch holds one
request in its own row of a :class:`~gptkit.model.gpt.KVCache` (prompts of different lengths
need no padding: every row has its own length and positions). A row leaves the batch when its
request finishes (a stop token, a stop string, ``max_tokens``) and the next waiting request is
prefilled into it (continuous batching); once none wait, the cache shrinks to the rows still
running. Only the last position of each row goes through the output layer. Greedy decoding
also checks tokens drafted from each row's own context (prompt lookup) in the same step.

:func:`generate_ids` and :func:`generate_text` stream one prompt's tokens or text.
"""

from __future__ import annotations

import codecs
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gptkit.model.gpt import GPT, KVCache, padded


@dataclass
class SamplingConfig:
    """How to pick the next token. ``temperature=0`` is greedy decoding."""

    max_tokens: int = 100
    temperature: float = 1.0
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set of tokens whose probability reaches p
    seed: int | None = None
    stop_at_eot: bool = True  # stop (without yielding it) at <|endoftext|>
    #: greedy decoding checks up to this many tokens copied from the context in one step (prompt
    #: lookup, see :class:`_PromptLookup`); 0 turns it off
    prompt_lookup: int = 8

    def __post_init__(self) -> None:
        if self.max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.prompt_lookup < 0:
            raise ValueError(f"prompt_lookup must be >= 0, got {self.prompt_lookup}")


@dataclass
class Request:
    """One prompt to continue. Generation ends after ``max_tokens`` tokens, at a token of
    ``stop_ids`` (end of text, end of turn; not kept) or once the text holds a ``stop`` string
    (the token completing it is kept: cut the text at the string, as lm-eval does)."""

    prompt: list[int]
    max_tokens: int
    stop: Sequence[str] = ()
    stop_ids: Sequence[int] = ()


@dataclass
class Completion:
    """The tokens generated for a request; ``logprobs``: each one's log-probability under the
    distribution it was drawn from before top-k/top-p (temperature 0 counts as 1)."""

    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    finish: Literal["stop", "length"] = "length"


def next_token_distribution(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """Probabilities ``(B, V)`` after temperature, top-k and top-p filtering of ``logits`` ``(B, V)``."""
    logits = logits.float()
    if config.temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.size(-1)).float()
    logits = logits / config.temperature
    if config.top_k is not None and config.top_k < logits.size(-1):
        kth = torch.topk(logits, config.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if config.top_p is not None and config.top_p < 1:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ranked above
        sorted_probs = sorted_probs.masked_fill(before >= config.top_p, 0.0)  # the top token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def generate(
    model: GPT,
    requests: Sequence[Request],
    config: SamplingConfig,
    *,
    batch_size: int = 16,
    tokenizer: Any = None,
    on_token: Callable[[int, int], None] | None = None,
    on_done: Callable[[int, Completion], None] | None = None,
    logprobs: bool = False,
) -> list[Completion]:
    """Decode ``requests``, ``batch_size`` rows at a time; one :class:`Completion` each.
    ``config`` gives the temperature, top-k/top-p and seed; each request its own length and stops.

    Request ``i`` samples from its own generator seeded ``config.seed + i``, so its text does not
    depend on the batch it shares. ``tokenizer`` (its ``token_bytes``) is needed for stop
    strings. ``on_token(i, token)`` is called for every token as it is generated, ``on_done(i,
    completion)`` when request ``i`` is finished.
    """
    decoder = _Decoder(model, requests, config, batch_size, tokenizer, logprobs, on_done)
    for i, token in decoder.steps():
        if on_token is not None:
            on_token(i, token)
    return decoder.completions


def generate_ids(
    model: GPT, prompt: list[int], config: SamplingConfig, eot_id: int | None = None
) -> Iterator[int]:
    """Yield up to ``config.max_tokens`` sampled token ids continuing ``prompt``, as they come.

    When the context is full, the cache is rebuilt from the last half of it. A prompt longer
    than the context keeps its last tokens.
    """
    if not prompt:
        raise ValueError(
            "the prompt must hold at least one token (use <|endoftext|> to sample unconditionally)"
        )
    stop_ids = [eot_id] if config.stop_at_eot and eot_id is not None else []
    request = Request(prompt, config.max_tokens, stop_ids=stop_ids)
    for _, token in _Decoder(model, [request], config, 1, None, False, None).steps():
        yield token


def generate_text(model: GPT, tokenizer: Any, prompt: str, config: SamplingConfig) -> Iterator[str]:
    """Yield the continuation of ``prompt`` as text pieces, as soon as their bytes form whole
    UTF-8 characters. An empty prompt samples unconditionally (from ``<|endoftext|>``)."""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.eot_id]
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for token in generate_ids(model, ids, config, eot_id=tokenizer.eot_id):
        if piece := utf8.decode(tokenizer.decode_bytes([token])):
            yield piece
    if rest := utf8.decode(b"", final=True):
        yield rest


@dataclass
class _Row:
    """A request while it is decoded: the tokens its cache row holds or will hold."""

    index: int
    request: Request
    context: list[int]  # prompt (kept to the context) + generated tokens
    completion: Completion
    generator: torch.Generator | None
    tail: bytes = b""  # the last bytes of the text, enough to find a stop string ending later
    lookup: _PromptLookup | None = None  # drafts of the next tokens (greedy decoding)
    draft_len: int = 2  # tokens to draft next: grows while drafts are accepted, shrinks when not


class _Decoder:
    """The decoding loop of :func:`generate`; :meth:`steps` yields ``(request index, token)``."""

    #: shortest prompt prefix copied from another cache row rather than computed
    MIN_SHARED = 8

    def __init__(
        self, model: GPT, requests: Sequence[Request], config: SamplingConfig, batch_size: int,
        tokenizer: Any, logprobs: bool, on_done: Callable[[int, Completion], None] | None,
    ):  # fmt: skip
        if any(r.stop for r in requests) and tokenizer is None:
            raise ValueError("stop strings need the tokenizer")
        if any(not r.prompt for r in requests):
            raise ValueError("every prompt must hold at least one token")
        self.model, self.requests, self.config = model, requests, config
        self.tokenizer, self.logprobs, self.on_done = tokenizer, logprobs, on_done
        self.block = model.config.block_size
        self.device = model.transformer.wte.weight.device
        self.batch_size = max(1, min(batch_size, len(requests)))
        self.completions = [Completion(logprobs=[] if logprobs else None) for _ in requests]
        self.stop_bytes = [[s.encode() for s in r.stop if s] for r in requests]
        greedy = config.temperature == 0 and not logprobs
        self.greedy_head = _GreedyHead.for_model(model) if greedy else None
        self.max_draft = config.prompt_lookup if greedy else 0
        # bytes of text to keep: a stop string ending in a new token starts at most this far back
        self.tail_len = [max(map(len, stops), default=1) - 1 for stops in self.stop_bytes]

    def _cache_len(self) -> int:
        """Cache rows as long as the longest request needs (at most the model's context)."""
        need = max((min(len(r.prompt), self.block - 1) + r.max_tokens for r in self.requests), default=1)
        return max(1, min(self.block, need))

    @torch.inference_mode()
    def steps(self) -> Iterator[tuple[int, int]]:
        was_training = self.model.training
        self.model.eval()
        try:
            yield from self._loop()
        finally:
            self.model.train(was_training)

    def _loop(self) -> Iterator[tuple[int, int]]:
        for i, request in enumerate(self.requests):
            if request.max_tokens <= 0:
                self._done(i)
        waiting = iter([i for i, r in enumerate(self.requests) if r.max_tokens > 0])
        cache = self.model.new_cache(self.batch_size, self._cache_len())
        rows: list[_Row | None] = [None] * self.batch_size
        more = True
        while True:
            while more and None in rows:  # refill free rows; their first tokens may finish them
                free = [s for s, row in enumerate(rows) if row is None]
                admitted = [self._start(i) for i in _take(waiting, len(free))]
                more = len(admitted) == len(free)
                for slot, row in zip(free, admitted, strict=False):
                    rows[slot] = row
                if admitted:
                    yield from self._admit(cache, rows, free[: len(admitted)])
            if None in rows:  # no request waits: drop the finished rows from the cache
                rows = _shrink(cache, rows)
            if not rows:
                return
            full = [s for s, row in enumerate(rows) if len(row.context) > cache.max_len]  # type: ignore[union-attr]
            if full:
                yield from self._rebuild(cache, rows, full)
                continue
            drafts = [self._draft(row, cache.max_len) for row in rows] if self.max_draft else []  # type: ignore[arg-type]
            if any(drafts):
                yield from self._verify(cache, rows, drafts)
                continue
            last = torch.tensor([[row.context[-1]] for row in rows], device=self.device)  # type: ignore[union-attr]
            hidden = self.model.hidden(last, cache=cache)[:, -1]
            yield from self._advance(rows, list(range(len(rows))), hidden)

    def _start(self, index: int) -> _Row:
        request = self.requests[index]
        generator = None
        if self.config.temperature > 0:
            generator = torch.Generator()
            if self.config.seed is None:
                generator.seed()
            else:
                generator.manual_seed(self.config.seed + index)
        context = list(request.prompt[-(self.block - 1) :] if self.block > 1 else request.prompt[-1:])
        lookup = _PromptLookup(context) if self.max_draft else None
        return _Row(index, request, context, self.completions[index], generator, lookup=lookup)

    def _admit(self, cache: KVCache, rows: list[_Row | None], slots: list[int]) -> Iterator[tuple[int, int]]:
        """Prefill the rows just admitted to ``slots``. A row whose prompt begins with at least
        ``MIN_SHARED`` tokens another row holds (the story of CoQA turns, repeated few-shot
        examples, the same prompt twice) copies their keys and values and computes only the rest;
        rows sharing with another new row are prefilled after it."""
        held = {
            s: row.context[: int(cache.lengths[s])] for s, row in enumerate(rows) if row is not None and s not in slots
        }
        # slot → (donor slot, shared tokens): "first" share with running rows (or none: donor -1),
        # "second" with a row of "first", once its prefill has filled its cache row
        first: dict[int, tuple[int, int]] = {}
        second: dict[int, tuple[int, int]] = {}
        for slot in slots:
            context = rows[slot].context  # type: ignore[union-attr]
            donor, shared = _longest_shared_prefix(context, held)
            earlier = {s: rows[s].context for s in first}  # type: ignore[union-attr]
            new_donor, new_shared = _longest_shared_prefix(context, earlier)
            if new_shared > max(shared, self.MIN_SHARED - 1):
                second[slot] = (new_donor, new_shared)
            else:
                first[slot] = (donor, shared)
        for group in (first, second):
            if group:
                sharing = {slot: d for slot, d in group.items() if d[1] >= self.MIN_SHARED}
                if sharing:
                    donors, lengths = zip(*sharing.values(), strict=True)
                    cache.share(list(donors), list(sharing), list(lengths))
                cache.reset([slot for slot in group if slot not in sharing])
                starts = [group[slot][1] if slot in sharing else 0 for slot in group]
                yield from self._prefill(cache, rows, list(group), starts)

    def _prefill(
        self, cache: KVCache, rows: list[_Row | None], slots: list[int], starts: list[int]
    ) -> Iterator[tuple[int, int]]:
        """Append the context of the rows in ``slots`` from ``starts`` on (the tokens their cache
        rows do not hold yet) to the cache, right-padded to one batch, and choose their next tokens."""
        contexts = [rows[s].context[start:] for s, start in zip(slots, starts, strict=True)]  # type: ignore[union-attr]
        lengths = [len(c) for c in contexts]
        idx = padded(contexts).to(self.device)
        last = torch.tensor(lengths, device=self.device) - 1  # the last block computes only these
        hidden = self.model.hidden(idx, cache=cache, rows=slots, lengths=lengths, read=last)
        yield from self._advance(rows, slots, hidden)

    def _rebuild(
        self, cache: KVCache, rows: list[_Row | None], slots: list[int]
    ) -> Iterator[tuple[int, int]]:
        """Rows whose context is full start again from the last half of their tokens."""
        for s in slots:
            row = rows[s]
            row.context = row.context[-(self.block // 2) :]  # type: ignore[union-attr]
            row.lookup = _PromptLookup(row.context) if row.lookup else None  # type: ignore[union-attr]
        cache.reset(slots)
        yield from self._prefill(cache, rows, slots, [0] * len(slots))

    def _advance(
        self, rows: list[_Row | None], slots: list[int], hidden: torch.Tensor
    ) -> Iterator[tuple[int, int]]:
        """Choose the next token of the rows in ``slots`` from their last hidden states."""
        tokens, logprobs = self._next_tokens(hidden, [rows[s] for s in slots])
        for b, slot in enumerate(slots):
            yield from self._emit(rows, slot, tokens[b], logprobs[b] if logprobs else None)

    def _draft(self, row: _Row, max_len: int) -> list[int]:
        """The tokens to check after the row's last one: at most its draft length, the room
        left in its cache row and the tokens it may still generate after the model's own."""
        to_go = row.request.max_tokens - len(row.completion.tokens) - 1
        room = min(row.draft_len, self.max_draft, max_len - len(row.context), to_go)
        return row.lookup.draft(room) if room > 0 and row.lookup is not None else []

    def _verify(
        self, cache: KVCache, rows: list[_Row | None], drafts: list[list[int]]
    ) -> Iterator[tuple[int, int]]:
        """One decoding step that also checks each row's draft (speculative greedy decoding):
        the row's last token and its draft go through the model together, and the row keeps
        the drafted tokens up to the first the model would not have chosen, then the model's
        own token there. The cache forgets the keys and values of the tokens not kept."""
        inputs = [[row.context[-1], *draft] for row, draft in zip(rows, drafts, strict=True)]  # type: ignore[union-attr]
        lengths = [len(x) for x in inputs]
        idx = padded(inputs).to(self.device)
        starts = cache.lengths.tolist()
        hidden = self.model.hidden(idx, cache=cache, lengths=lengths)
        real = torch.arange(idx.size(1))[None, :] < torch.tensor(lengths)[:, None]
        hidden = hidden[real.to(self.device)]
        chosen, _ = self._next_tokens(hidden, [])  # greedy: no generator is drawn from
        at = 0
        for slot, draft in enumerate(drafts):
            tokens, at = chosen[at : at + len(draft) + 1], at + len(draft) + 1
            kept = next((i for i, (d, t) in enumerate(zip(draft, tokens, strict=False)) if d != t), len(draft))
            cache.lengths[slot] = starts[slot] + 1 + kept
            row = rows[slot]
            assert row is not None
            if draft:  # transformers' schedule for assisted decoding: +2 after a full match, else -1
                grown = min(row.draft_len + 2, self.max_draft)
                row.draft_len = grown if kept == len(draft) else max(1, row.draft_len - 1)
            for token in tokens[: kept + 1]:
                yield from self._emit(rows, slot, token)
                if rows[slot] is None:
                    break

    def _emit(
        self, rows: list[_Row | None], slot: int, token: int, logprob: float | None = None
    ) -> Iterator[tuple[int, int]]:
        """Give ``token`` to the row in ``slot``; a row that finishes leaves its slot (None)."""
        row = rows[slot]
        assert row is not None
        out = row.completion
        if token in row.request.stop_ids:
            out.finish = "stop"
            rows[slot] = self._done(row.index)
            return
        out.tokens.append(token)
        if out.logprobs is not None:
            out.logprobs.append(logprob)  # type: ignore[arg-type]
        row.context.append(token)
        yield row.index, token
        if self._stop_string(row, token):
            out.finish = "stop"
        if out.finish == "stop" or len(out.tokens) >= row.request.max_tokens:
            rows[slot] = self._done(row.index)

    def _done(self, index: int) -> None:
        if self.on_done is not None:
            self.on_done(index, self.completions[index])

    def _next_tokens(self, hidden: torch.Tensor, rows: list[_Row]) -> tuple[list[int], list[float]]:
        """The tokens (and log-probabilities) that hidden states ``(B, C)`` choose: the screened
        greedy head where there is one, else the output layer and :meth:`_choose`."""
        if self.greedy_head is not None:
            return self.greedy_head.argmax(hidden).tolist(), []
        return self._choose(self.model.logits(hidden).float(), rows)

    def _choose(self, logits: torch.Tensor, rows: list[_Row]) -> tuple[list[int], list[float]]:
        """Next tokens (argmax, or drawn from each row's generator) and their log-probabilities."""
        if self.config.temperature == 0:
            tokens = logits.argmax(dim=-1)
        else:
            cdf = next_token_distribution(logits, self.config).double().cumsum(dim=-1)
            u = torch.cat([torch.rand(1, generator=r.generator, dtype=torch.float64) for r in rows])
            u = u.to(cdf.device)[:, None] * cdf[:, -1:]
            tokens = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.size(-1) - 1)[:, 0]
        logprobs: list[float] = []
        if self.logprobs:
            scaled = logits / (self.config.temperature or 1.0)
            logprobs = torch.log_softmax(scaled, dim=-1).gather(1, tokens[:, None])[:, 0].tolist()
        return tokens.tolist(), logprobs

    def _stop_string(self, row: _Row, token: int) -> bool:
        """Whether the text now holds one of the row's stop strings (checked on its last bytes)."""
        stops = self.stop_bytes[row.index]
        if not stops:
            return False
        text = row.tail + self.tokenizer.token_bytes(token)
        keep = self.tail_len[row.index]
        row.tail = text[-keep:] if keep else b""
        return any(s in text for s in stops)


class _GreedyHead:
    """The argmax of the output layer at a fraction of its cost: an approximate product (a
    *screen*: bfloat16 on GPUs, int8 on CPUs with VNNI) picks the candidates, their exact float32
    logits pick the token.

    A screen returns approximate logits divided by a positive scale of its choosing per row (the
    argmax does not change), a bound on their error in the same units, and the scales. The float32
    argmax is among the tokens within twice that bound (the slack) of the best approximate logit.
    They are found without sorting: the vocabulary is cut into chunks of ``CHUNK`` tokens, only
    the chunks whose maximum is within the slack are searched, and their candidates are rescored
    in float32. When the candidates' chunks hold more than the vocabulary (nearly flat logits)
    the full float32 product decides. Ties go to the lowest id, as with ``argmax``.
    """

    CHUNK = 128
    #: smaller output layers take the float32 product: screening them costs as much (measured at
    #: 128 dimensions, 16,000 tokens, 1 to 16 rows on one CPU thread)
    MIN_VOCAB = 16384
    #: heads built, by model: building one (quantising, prepacking) costs tens of decoding steps
    _built: weakref.WeakKeyDictionary[GPT, tuple[tuple, _GreedyHead]] = weakref.WeakKeyDictionary()

    def __init__(self, weight: torch.Tensor, screen: type[_Bfloat16Screen | _Int8Screen]):
        self.weight = weight
        padding = -len(weight) % self.CHUNK  # rows of zeros, their logits set to -inf
        self.screen = screen(torch.nn.functional.pad(weight, (0, 0, 0, padding)))

    @classmethod
    def for_model(cls, model: GPT) -> _GreedyHead | None:
        """The model's head, built once per state of its weight (training changes its version)."""
        weight = model.lm_head.weight
        if model.config.vocab_size < cls.MIN_VOCAB or weight.dtype != torch.float32:
            return None
        if not (weight.is_cuda or _Int8Screen.available()):
            return None
        version = None if weight.is_inference() else weight._version  # inference tensors keep none
        state = (version, weight.data_ptr(), weight.device, model.config.vocab_size)
        built = cls._built.get(model)
        if built is None or built[0] != state:
            screen = _Bfloat16Screen if weight.is_cuda else _Int8Screen
            built = state, cls(weight[: model.config.vocab_size].detach(), screen)
            cls._built[model] = built
        return built[1]

    def argmax(self, hidden: torch.Tensor) -> torch.Tensor:
        """Greedy tokens ``(B,)`` for final hidden states ``(B, C)``."""
        hidden = hidden.float()
        approx, error, _ = self.screen(hidden)
        approx[:, len(self.weight) :] = float("-inf")
        chunks = approx.view(len(hidden), -1, self.CHUNK)
        chunk_max = chunks.amax(dim=-1)
        floor = chunk_max.amax(dim=-1) - 2 * error
        rows, near = (chunk_max >= floor[:, None]).nonzero(as_tuple=True)
        if len(rows) * self.CHUNK > len(self.weight):  # too many candidates
            return torch.nn.functional.linear(hidden, self.weight).argmax(dim=-1)
        pair, offset = (chunks[rows, near] >= floor[rows, None]).nonzero(as_tuple=True)
        owner, ids = rows[pair], near[pair] * self.CHUNK + offset
        exact = (hidden[owner] * self.weight[ids]).sum(dim=-1)
        best = torch.full_like(floor, float("-inf")).scatter_reduce(0, owner, exact, "amax")
        winners = torch.where(exact == best[owner], ids, len(self.weight))
        lowest = torch.full((len(hidden),), len(self.weight), dtype=torch.long, device=hidden.device)
        return lowest.scatter_reduce(0, owner, winners, "amin")


class _Bfloat16Screen:
    """Logits from bfloat16 hidden states and weights (float32 accumulation, bfloat16 output):
    each differs from the float32 logit by less than ``2**-6 * |h| * |w|`` (three roundings to 8
    significant bits)."""

    ERROR = 2.0**-6

    def __init__(self, weight: torch.Tensor):
        self.weight = weight.to(torch.bfloat16)
        self.max_norm = float(weight.norm(dim=1).max())

    def __call__(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        approx = torch.nn.functional.linear(hidden.to(torch.bfloat16), self.weight).float()
        error = self.ERROR * self.max_norm * hidden.norm(dim=-1)
        return approx, error, torch.ones(len(hidden), device=hidden.device)


class _Int8Screen:
    """Logits from int8 weights (one scale per row) and 8-bit hidden states (one scale per row),
    multiplied exactly in integers by oneDNN's VNNI kernels, with a weight prepacked at half the
    bytes of bfloat16: a CPU's decoding step is bound by reading that weight.

    Each hidden state is divided by its own scale ``s`` (so the logits come out divided by ``s``).
    With ``ĥ``, ``ŵ`` the dequantised vectors, ``|h·w − ĥ·ŵ| ≤ |h − ĥ|·|w| + |ĥ|·|w − ŵ|``; the
    norms of ``w`` and ``w − ŵ`` are bounded by their largest over the vocabulary, and a last
    ``2**-20`` covers the float32 rounding of the scaled integer sums.
    """

    @staticmethod
    def available() -> bool:
        return (
            torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.onednn, "qlinear_pointwise")
            and hasattr(torch.cpu, "_is_vnni_supported")
            and torch.cpu._is_vnni_supported()  # exact u8 x s8 sums (no 16-bit saturation)
        )

    def __init__(self, weight: torch.Tensor):
        scale = weight.abs().amax(dim=1) / 127
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        quantised = torch.round(weight / scale[:, None]).to(torch.int8)
        self.max_norm = float(weight.norm(dim=1).max())
        self.max_error = float((weight - quantised * scale[:, None]).norm(dim=1).max())
        self.scale = scale
        self.zero_points = torch.zeros(len(weight), dtype=torch.long)
        self.packed = torch.ops.onednn.qlinear_prepack(quantised, None)

    def __call__(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        step = hidden.abs().amax(dim=-1, keepdim=True) / 127
        scaled = hidden / torch.where(step > 0, step, torch.ones_like(step))
        levels = torch.round(scaled)  # -127..127
        approx = torch.ops.onednn.qlinear_pointwise(
            (levels + 128).to(torch.uint8), 1.0, 128, self.packed, self.scale, self.zero_points,
            None, 1.0, 0, torch.float32, "none", [], "",
        )  # fmt: skip
        norm = levels.norm(dim=-1)
        error = (scaled - levels).norm(dim=-1) * self.max_norm + norm * self.max_error
        return approx, error + norm * (self.max_norm + self.max_error) * 2.0**-20, step[:, 0]


class _PromptLookup:
    """Drafts for speculative greedy decoding by prompt lookup (transformers'
    ``prompt_lookup_num_tokens``, vLLM's n-gram drafts): the tokens that followed the latest
    earlier occurrence of the context's last 3 (else 2) tokens. Where those tokens run into the
    present, the draft goes on repeating that span, as copying it would. Extractive answers and
    repetitive text are drafted right; a wrong draft costs one wider step, never a wrong token."""

    SIZES = (3, 2)

    def __init__(self, tokens: list[int]):
        self.tokens = tokens  # the row's context, which grows as tokens are generated
        self.ends: dict[tuple[int, ...], int] = {}  # n-gram → where its latest occurrence ends
        self.indexed = 0  # n-grams ending at or before this position are in ``ends``

    def draft(self, k: int) -> list[int]:
        """Up to ``k`` tokens that may come next (none when the last n-gram is new)."""
        tokens = self.tokens
        while self.indexed < len(tokens) - 1:  # not the last n-gram: it would find itself
            self.indexed += 1
            for n in self.SIZES:
                if self.indexed >= n:
                    self.ends[tuple(tokens[self.indexed - n : self.indexed])] = self.indexed
        for n in self.SIZES:
            end = self.ends.get(tuple(tokens[-n:]))
            if end is not None:
                period = len(tokens) - end
                return [tokens[end + i % period] for i in range(k)]
        return []


def _longest_shared_prefix(tokens: list[int], candidates: dict[int, list[int]]) -> tuple[int, int]:
    """``(key, n)``: the candidate sharing the longest prefix with ``tokens``, and its length, at
    most ``len(tokens) - 1`` (the last token is computed for its hidden state); ``(-1, 0)`` if none."""
    best, best_n = -1, 0
    for key, other in candidates.items():
        limit = min(len(tokens) - 1, len(other))
        n = 0
        while n < limit and tokens[n] == other[n]:
            n += 1
        if n > best_n:
            best, best_n = key, n
    return best, best_n


def _take(items: Iterator[int], n: int) -> list[int]:
    return [i for _, i in zip(range(n), items, strict=False)]


def _shrink(cache: KVCache, rows: list[_Row | None]) -> list[_Row | None]:
    """Keep only the running rows in the cache (and in ``rows``)."""
    running = [s for s, row in enumerate(rows) if row is not None]
    if running:
        cache.keep(running)
    return [rows[s] for s in running]
