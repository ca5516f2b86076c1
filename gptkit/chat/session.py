"""A multi-turn conversation with a tuned model: history, context trimming, streaming replies.

The prompt is the conversation rendered by the model's own chat template (the one it was tuned
with) plus the assistant header. When it and ``max_tokens`` do not fit the model's context, the
oldest user/assistant exchanges are dropped first; the system prompt is always kept. Replies are
sampled by the shared decoder (:mod:`gptkit.model.generate`) and end at the template's end-of-turn
token or at one of its stop strings, which is never shown.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gptkit.chat.template import ChatTemplate, encode_chat, stop_ids
from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_write_bytes
from gptkit.model.generate import Request, SamplingConfig, generate


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
        self.stop_ids = stop_ids(tokenizer, template)

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
        request = Request(ids, min(self.settings.max_tokens, max(block - len(ids), 1)),
                          stop=self.template.stop_strings, stop_ids=self.stop_ids)  # fmt: skip
        stream = ReplyStream(self.tokenizer, self.template.stop_strings, on_text)
        generate(self.model, [request], self.settings.sampling(), tokenizer=self.tokenizer,
                 on_token=lambda _, token: stream.feed(token))  # fmt: skip
        answer = stream.finish()
        self.turns.append({"role": "assistant", "content": answer})
        return answer

    def save(self, path: str | Path) -> Path:
        """The conversation as one ``{"messages": [...]}`` JSON line (``gptkit data chat`` reads it)."""
        path = Path(path)
        atomic_write_bytes(path, orjson.dumps({"messages": self.messages}) + b"\n")
        return path


class ReplyStream:
    """Tokens in, text out as soon as it is whole UTF-8 and cannot be the start of a stop string;
    a stop string and what follows it are never shown."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], on_text: Callable[[str], None]):
        self.tokenizer, self.stops, self.on_text = tokenizer, stops, on_text
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.shown, self.held, self.stopped = "", "", False

    def feed(self, token: int) -> None:
        self._add(self.utf8.decode(self.tokenizer.token_bytes(token)))

    def finish(self) -> str:
        """Flush what was held back; the whole reply."""
        self._add(self.utf8.decode(b"", final=True))
        if not self.stopped:
            self._show(self.held)
        return self.shown

    def _add(self, piece: str) -> None:
        if self.stopped or not piece:
            return
        self.held += piece
        cut = min((i for i in (self.held.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self._show(self.held[:cut])
            self.stopped = True
            return
        keep = max((k for s in self.stops for k in range(len(s), 0, -1) if self.held.endswith(s[:k])), default=0)
        self._show(self.held[: len(self.held) - keep])
        self.held = self.held[len(self.held) - keep :]

    def _show(self, text: str) -> None:
        if text:
            self.shown += text
            self.on_text(text)
