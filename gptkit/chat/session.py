"""A multi-turn conversation with a tuned model: history, context trimming, streaming replies.

The prompt is the conversation rendered by the model's own chat template (the one it was tuned
with) plus the assistant header. When it and ``max_tokens`` do not fit the model's context, the
oldest user/assistant exchanges are dropped first; the system prompt is always kept. Replies are
sampled by the shared decoder (:mod:`gptkit.model.generate`) and end at the template's end-of-turn
token or at one of its stop strings, which is never shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gptkit.chat.template import ChatTemplate, encode_chat
from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_write_bytes
from gptkit.model.generate import SamplingConfig, generate_ids


@dataclass
class ChatSettings:
    """What ``/set`` changes."""

    temperature: float = 0.7
    top_k: int | None = 50
    top_p: float | None = None
    max_tokens: int = 256
    seed: int | None = None

    def update(self, assignments: list[str]) -> None:
        """Apply ``key=value`` items (``/set temperature=0.7 top_k=50``); bad ones are UsageErrors."""
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep or key not in types:
                raise UsageError(f"/set {item}: expected KEY=VALUE with KEY one of {', '.join(types)}")
            try:
                value = None if raw.lower() == "none" else (float(raw) if key in ("temperature", "top_p") else int(raw))
            except ValueError:
                raise UsageError(f"/set {item}: {raw!r} is not a number") from None
            setattr(self, key, value)
        try:
            self.sampling()
        except ValueError as e:
            raise UsageError(f"/set: {e}") from None

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(max_tokens=self.max_tokens, temperature=self.temperature, top_k=self.top_k,
                              top_p=self.top_p, seed=self.seed)  # fmt: skip


class ChatSession:
    def __init__(self, model: Any, tokenizer: Any, template: ChatTemplate, settings: ChatSettings | None = None,
                 system: str | None = None):  # fmt: skip
        self.model, self.tokenizer, self.template = model, tokenizer, template
        self.settings = settings or ChatSettings()
        self.system = system
        self.turns: list[dict] = []  # user and assistant messages, oldest first
        self.dropped = 0  # exchanges left out of the last prompt to fit the context
        self.stop_id = tokenizer.specials[template.stop_token]

    @property
    def messages(self) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + self.turns

    def clear(self) -> None:
        self.turns = []

    def prompt_ids(self, budget: int) -> list[int]:
        """The rendered conversation ending in the assistant header, at most ``budget`` tokens if
        dropping old exchanges can get there (else as short as it gets: the last user turn)."""
        system = self.messages[: len(self.messages) - len(self.turns)]
        for start in range(0, len(self.turns), 2):
            ids, _ = encode_chat(self.tokenizer, self.template, system + self.turns[start:], add_generation_prompt=True)
            self.dropped = start // 2
            if len(ids) <= budget:
                return ids
        return ids

    def reply(self, text: str, on_text: Callable[[str], None] = lambda _: None) -> str:
        """Add the user's ``text``, stream the assistant's reply to ``on_text``, return it."""
        self.turns.append({"role": "user", "content": text})
        block = self.model.config.block_size
        ids = self.prompt_ids(block - self.settings.max_tokens)
        sampling = dataclasses.replace(self.settings.sampling(), max_tokens=min(self.settings.max_tokens,
                                       max(block - len(ids), 1)))  # fmt: skip
        pieces = generate_ids(self.model, ids, sampling, eot_id=self.stop_id)
        answer = "".join(_until_stop(_utf8(pieces, self.tokenizer), self.template.stop_strings, on_text))
        self.turns.append({"role": "assistant", "content": answer})
        return answer

    def save(self, path: str | Path) -> Path:
        """The conversation as one ``{"messages": [...]}`` JSON line (``gptkit data chat`` reads it)."""
        path = Path(path)
        atomic_write_bytes(path, orjson.dumps({"messages": self.messages}) + b"\n")
        return path


def _utf8(ids: Iterator[int], tokenizer: Any) -> Iterator[str]:
    """Text pieces of a stream of ids, holding back bytes until they form whole characters."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for token in ids:
        if piece := decoder.decode(tokenizer.token_bytes(token)):
            yield piece
    if rest := decoder.decode(b"", final=True):
        yield rest


def _until_stop(pieces: Iterator[str], stops: tuple[str, ...], on_text: Callable[[str], None]) -> Iterator[str]:
    """Pass text on until a stop string appears (it and what follows are dropped); text that may be
    the start of a stop string is held back until it is known not to be."""
    held = ""
    for piece in pieces:
        held += piece
        cut = min((i for i in (held.find(s) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            held = held[:cut]
            break
        keep = max((k for s in stops for k in range(len(s), 0, -1) if held.endswith(s[:k])), default=0)
        ready, held = held[: len(held) - keep], held[len(held) - keep :]
        if ready:
            on_text(ready)
            yield ready
    if held:
        on_text(held)
        yield held
