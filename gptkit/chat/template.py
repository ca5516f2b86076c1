"""Chat templates: how a conversation becomes text and token ids, and which ids are learnt.

One definition per template (:data:`TEMPLATES`) gives both renderings:

- :func:`encode_chat` (training, ``gptkit chat``, eval): ids and a learn mask marking the tokens of
  assistant turns (their content and end-of-turn marker), found from byte offsets in the rendered
  text, so the ids are exactly those of tokenizing the whole text.
- :func:`hf_chat_template`: the same template as the Jinja ``chat_template`` of
  ``tokenizer_config.json``, with ``{% generation %}`` around the learnt part, so transformers'
  ``apply_chat_template`` gives the same ids and ``return_assistant_tokens_mask`` the same mask.

``chatml`` (default): ``<|im_start|>role\\ncontent<|im_end|>\\n`` with two new special tokens; a
reply ends at ``<|im_end|>``. ``hh``: Anthropic hh-rlhf's plain text (``\\n\\nHuman: …\\n\\nAssistant: …``,
no new tokens), the conversation closed by ``<|endoftext|>``; a reply also stops at ``\\n\\nHuman:``.
Both open with ``<|endoftext|>``, which starts every document in pre-training.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gptkit.errors import InputError, UsageError
from gptkit.tokenizer import EOT

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


@dataclass(frozen=True)
class Turn:
    """The text around one message: ``prefix + lead + content + suffix + after``."""

    prefix: str  # never learnt (the role header)
    lead: str = ""  # learnt with an assistant's content (hh's space after 'Assistant:')
    suffix: str = ""  # learnt with an assistant's content (the end-of-turn marker)
    after: str = ""  # never learnt


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    turns: dict[str, Turn]  # by role: system, user, assistant
    begin: str = EOT  # opens every conversation
    close: str = ""  # closes a conversation that ends with an assistant turn (learnt)
    specials: tuple[str, ...] = ()  # tokens the tokenizer gains
    stop_token: str = EOT  # generation of a reply stops at this token…
    stop_strings: tuple[str, ...] = field(default=())  # …or at these strings


TEMPLATES: dict[str, ChatTemplate] = {
    "chatml": ChatTemplate(
        name="chatml",
        turns={r: Turn(f"{IM_START}{r}\n", suffix=IM_END, after="\n") for r in ("system", "user", "assistant")},
        specials=(IM_START, IM_END),
        stop_token=IM_END,
    ),
    "hh": ChatTemplate(
        name="hh",
        turns={"system": Turn(""), "user": Turn("\n\nHuman:", lead=" "), "assistant": Turn("\n\nAssistant:", lead=" ")},
        close=EOT,
        stop_strings=("\n\nHuman:",),
    ),
}


def get_template(name: str) -> ChatTemplate:
    if name not in TEMPLATES:
        raise UsageError(f"unknown chat template {name!r} (known: {', '.join(TEMPLATES)})")
    return TEMPLATES[name]


def render(
    template: ChatTemplate, messages: Sequence[dict], add_generation_prompt: bool = False, continue_final: bool = False
) -> list[tuple[str, bool]]:
    """The conversation as ``(text, learnt)`` pieces; with ``add_generation_prompt`` it ends with
    the header of the assistant turn to be generated; with ``continue_final`` it ends right after
    the last message's content, left open for the model to continue (transformers'
    ``continue_final_message``, what lm-eval asks for when a task prefills the answer)."""
    pieces = [(template.begin, False)]
    for i, m in enumerate(messages):
        turn = template.turns[m["role"]]
        learnt = m["role"] == "assistant"
        last = i == len(messages) - 1
        if last and continue_final:
            pieces += [(turn.prefix, False), (turn.lead + m["content"], learnt)]
            break
        close = template.close if learnt and last and not add_generation_prompt else ""
        pieces += [(turn.prefix, False), (turn.lead + m["content"] + turn.suffix + close, learnt), (turn.after, False)]
    if add_generation_prompt:
        pieces.append((template.turns["assistant"].prefix, False))
    return [(text, learnt) for text, learnt in pieces if text]


def render_text(
    template: ChatTemplate, messages: Sequence[dict], add_generation_prompt: bool = False, continue_final: bool = False
) -> str:
    return "".join(text for text, _ in render(template, messages, add_generation_prompt, continue_final))


def encode_chat(
    tokenizer: Any, template: ChatTemplate, messages: Sequence[dict], add_generation_prompt: bool = False
) -> tuple[list[int], list[bool]]:
    """Token ids of the rendered conversation and, per token, whether it is learnt (an assistant
    token). A token is learnt when its first byte lies in a learnt piece."""
    pieces = render(template, messages, add_generation_prompt)
    ids = tokenizer.encode("".join(t for t, _ in pieces), allowed_special="all")
    starts, flags, pos = [], [], 0
    for text, learnt in pieces:
        starts.append(pos)
        flags.append(learnt)
        pos += len(text.encode("utf-8"))
    learn, offset = [], 0
    for token in ids:
        learn.append(flags[bisect.bisect_right(starts, offset) - 1])
        offset += len(tokenizer.token_bytes(token))
    return ids, learn


def hf_chat_template(template: ChatTemplate) -> str:
    """The Jinja ``chat_template`` transformers renders exactly as :func:`render` does."""

    def lit(text: str) -> str:  # a Jinja string literal
        return json.dumps(text)

    branches = []
    for role, t in template.turns.items():
        body = f"{lit(t.lead)} + message['content'] + {lit(t.suffix)}"
        if role == "assistant":
            close = f"{{% if loop.last and not add_generation_prompt %}}{{{{ {lit(template.close)} }}}}{{% endif %}}"
            body = f"{{% generation %}}{{{{ {body} }}}}{close}{{% endgeneration %}}"
        else:
            body = f"{{{{ {body} }}}}"
        branches.append(f"{{% {'if' if not branches else 'elif'} message['role'] == {lit(role)} %}}"
                        f"{{{{ {lit(t.prefix)} }}}}{body}{{{{ {lit(t.after)} }}}}")  # fmt: skip
    return (
        f"{{{{ {lit(template.begin)} }}}}{{% for message in messages %}}{''.join(branches)}{{% endif %}}{{% endfor %}}"
        f"{{% if add_generation_prompt %}}{{{{ {lit(template.turns['assistant'].prefix)} }}}}{{% endif %}}"
    )


def attach_template(tokenizer: Any, template: ChatTemplate) -> None:
    """Store ``template`` with ``tokenizer`` (written to ``tokenizer_config.json`` when it is saved)."""
    tokenizer.extra_config.update(
        chat_template=hf_chat_template(template), gptkit_chat_template=template.name, eos_token=template.stop_token
    )


def template_of(tokenizer: Any, where: Any) -> ChatTemplate:
    """The chat template stored with a model's tokenizer; a model without one is an InputError."""
    name = getattr(tokenizer, "extra_config", {}).get("gptkit_chat_template") if tokenizer is not None else None
    if name is None:
        raise InputError("model has no chat template (tune it with 'gptkit sft' first)", where)
    if name not in TEMPLATES:
        raise InputError(f"model's chat template {name!r} is unknown to this gptkit", where)
    return TEMPLATES[name]


def stop_ids(tokenizer: Any, template: ChatTemplate | None) -> list[int]:
    """The ids a reply stops at: ``<|endoftext|>``, and ``template``'s end of turn (``<|im_end|>``)."""
    ids = [tokenizer.eot_id] + ([tokenizer.specials[template.stop_token]] if template is not None else [])
    return list(dict.fromkeys(ids))


def stop_ids_of(tokenizer: Any) -> list[int]:
    """:func:`stop_ids` of the template stored with ``tokenizer`` (only ``<|endoftext|>`` without one)."""
    return stop_ids(tokenizer, TEMPLATES.get(tokenizer.extra_config.get("gptkit_chat_template")))
