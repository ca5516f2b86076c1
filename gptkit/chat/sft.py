"""``gptkit sft``: supervised fine-tuning on conversations, as an objective of the one trainer.

InstructGPT's step 1 (and ChatGPT's dialogue tuning): next-token loss on demonstrations, by
default only on the assistant's tokens (``loss_on = "assistant"``; ``"all"`` learns the users' and
system's tokens too). The run:

1. ``RUN/base/``: the starting model with the chat template's special tokens added (new embedding
   rows = mean row) and the template stored with its tokenizer. Written once; a rerun reuses it.
2. The trainer (:func:`gptkit.train.trainer.train`) from ``RUN/base`` with :class:`SFTObjective`:
   checkpoints, schedule, bitwise resume and metrics are the loop's; every checkpoint carries the
   tokenizer and so the template (``gptkit chat RUN`` reads it).

Batches are ``padded`` (one conversation per row, right-padded to the longest in the batch) or
``packed`` (conversations laid end to end in rows of ``block_size`` tokens, attending only within
their own conversation through ``doc_ids``). Conversations longer than ``block_size`` are cut and
counted. ``val_loss`` is always the loss on the assistant tokens of held-out conversations, so runs
with either ``loss_on`` compare.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gptkit.chat.data import conversation_files
from gptkit.chat.template import ChatTemplate, attach_template, encode_chat, get_template, template_of
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.io.shards import iter_jsonl
from gptkit.model.store import CONFIG_FILE, TOKENIZER_DIR, load_model, read_model_config, save_model
from gptkit.model.vocab import add_special_tokens
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageRun
from gptkit.tokenizer import load_tokenizer
from gptkit.train.config import TrainConfig
from gptkit.train.objective import DataSpec, Metrics, Objective, Setup, TrainModule, to_device

BASE_DIR = "base"
Example = tuple[list[int], list[bool]]  # ids, learnt


@dataclass
class SFTConfig:
    """The ``[sft]`` table of a recipe (the training loop's settings are in ``[train]``)."""

    model: Path | None = None  # the model to tune: gptkit model/run dir or HF GPT-2 dir
    data: Path | None = None  # conversation shards from `gptkit data chat`
    template: Literal["chatml", "hh"] = "chatml"
    loss_on: Literal["assistant", "all"] = "assistant"
    batching: Literal["padded", "packed"] = "padded"


def sft(config: SFTConfig, train_config: TrainConfig, reporter: Reporter = NULL_REPORTER):
    """Prepare ``RUN/base`` (once) and train on the conversations; returns the trainer's summary."""
    from gptkit.train.trainer import train

    if config.model is None:
        raise ConfigError("sft.model is not set: give the model to tune")
    if config.data is None:
        raise ConfigError("sft.data is not set: give --data DIR (a 'gptkit data chat' output)")
    StageRun(SFTObjective.stage, Path(train_config.out), {}).claim()  # RUN/base is written before training
    base = prepare_base(config.model, get_template(config.template), Path(train_config.out) / BASE_DIR)
    train_config = dataclasses.replace(train_config, init_from=base, data=Path(config.data))
    objective = SFTObjective(Path(config.data), base, config.loss_on, config.batching)
    return train(train_config, reporter, objective)


def prepare_base(model_dir: Path, template: ChatTemplate, out: Path) -> Path:
    """``out``: ``model_dir``'s model and tokenizer with ``template``'s tokens and the template."""
    if (out / CONFIG_FILE).is_file():
        prepared = template_of(load_tokenizer(out / TOKENIZER_DIR), out)
        if prepared is not template:
            raise UsageError(f"{out} was prepared with the {prepared.name!r} template, not {template.name!r}: "
                             "resume with the same template or choose another --out")  # fmt: skip
        return out
    model, tok = load_model(model_dir)
    if tok is None:
        raise InputError("model has no tokenizer (a chat template needs one)", model_dir)
    model, tok = add_special_tokens(model, tok, template.specials)
    attach_template(tok, template)
    save_model(out, model, tok)
    return out


class SFTObjective(Objective):
    """Next-token loss on conversations, masked to the learnt tokens."""

    name = "sft"
    stage = "sft"

    def __init__(self, data_dir: Path, base: Path, loss_on: str = "assistant", batching: str = "padded"):
        self.data_dir, self.base, self.loss_on, self.batching = data_dir, base, loss_on, batching

    def input_dirs(self) -> list[Path]:
        return [self.data_dir]

    def data(self) -> DataSpec:
        tok = load_tokenizer(self.base / TOKENIZER_DIR)
        self.tokenizer, self.template = tok, template_of(tok, self.base)
        self.train_conversations = _read_conversations(conversation_files(self.data_dir, "train"), self.data_dir)
        self.val_conversations = _read_conversations(conversation_files(self.data_dir, "val"), None)
        vocab = read_model_config(self.base).vocab_size
        return DataSpec(self.data_dir, vocab, tok.hash, tok, [self.data_dir / "manifest.json"])

    def bind(self, setup: Setup) -> None:
        self.setup = setup
        block = setup.block_size + 1  # a row predicts block_size targets
        self.cut = 0
        train = [self._example(m, self.loss_on, block) for m in self.train_conversations]
        self.train_examples = [e for e in train if any(e[1][1:])]  # a row's first token is never a target
        self.val_examples = [self._example(m, "assistant", block) for m in self.val_conversations]
        if self.cut:
            setup.reporter.warn(f"{self.cut} conversations cut to block_size + 1 = {block} tokens")
        if len(train) > len(self.train_examples):
            setup.reporter.warn(f"{len(train) - len(self.train_examples)} training conversations cut before "
                                "their first assistant token: skipped (nothing to learn)")  # fmt: skip

    def _example(self, messages: list[dict], loss_on: str, block: int) -> Example:
        ids, learn = encode_chat(self.tokenizer, self.template, messages)
        if loss_on == "all":
            learn = [True] * len(ids)
        if len(ids) > block:
            self.cut += 1
            ids, learn = ids[:block], learn[:block]
        return ids, learn

    def train_source(self) -> ConversationBatches:
        s = self.setup
        rows = pack_rows(self.train_examples, s.block_size + 1) if self.batching == "packed" else \
            [[e] for e in self.train_examples]  # fmt: skip
        return ConversationBatches(rows, s.micro_batch, s.rank, s.world_size, s.seed, self.tokenizer.eot_id, s.device)

    def val_batches(self) -> list[Any]:
        s = self.setup
        mine = self.val_examples[s.rank :: s.world_size]
        if not mine:
            s.reporter.warn(f"{self.data_dir} has no held-out conversations: no validation loss")
            return []
        batches = [mine[i : i + s.micro_batch] for i in range(0, len(mine), s.micro_batch)][: s.eval_batches]
        return [to_device(collate([[e] for e in b], self.tokenizer.eot_id), s.device) for b in batches]

    def loss(self, model: TrainModule, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, Metrics]:
        x, y, doc_ids = batch
        _, loss = model.gpt(x, y, doc_ids=doc_ids if self.batching == "packed" else None)
        return loss, {}

    def batch_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return batch[0].numel()


def _read_conversations(files: list[Path], required_in: Path | None) -> list[list[dict]]:
    out = [obj["messages"] for f in files for _, obj in iter_jsonl(f)]
    if required_in is not None and not out:
        raise InputError("no training conversations (train_*.jsonl.zst)", required_in)
    return out


def pack_rows(examples: list[Example], block: int) -> list[list[Example]]:
    """Conversations laid end to end in rows of at most ``block`` tokens, in order (a conversation
    that does not fit in the current row starts the next)."""
    rows: list[list[Example]] = []
    used = block
    for ex in examples:
        if used + len(ex[0]) > block:
            rows.append([])
            used = 0
        rows[-1].append(ex)
        used += len(ex[0])
    return rows


def collate(rows: list[list[Example]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y, doc_ids)`` for rows of conversations, right-padded to the longest row.

    ``y[t]`` is the token after ``x[t]`` when that token is learnt and in the same conversation,
    else -1 (ignored); ``doc_ids`` numbers the conversations of a row (padding is its own run).
    """
    length = max(sum(len(ids) for ids, _ in row) for row in rows) - 1
    x = np.full((len(rows), length), pad_id, dtype=np.int64)
    y = np.full((len(rows), length), -1, dtype=np.int64)
    doc = np.zeros((len(rows), length), dtype=np.int64)
    for r, row in enumerate(rows):
        pos = 0
        for d, (ids, learn) in enumerate(row):
            n = min(len(ids), length - pos)  # a row's final token is only a target
            ids_a, learn_a = np.asarray(ids), np.asarray(learn)
            x[r, pos : pos + n] = ids_a[:n]
            targets = np.where(learn_a[1:], ids_a[1:], -1)
            y[r, pos : pos + len(targets[:n])] = targets[:n]
            doc[r, pos : pos + n] = d
            pos += n
        doc[r, pos:] = len(row)
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(doc)


class ConversationBatches:
    """Micro-batches of rows, each epoch in an order drawn from ``(seed, epoch)``; rank ``r`` takes
    the ``r``-th slice of every ``world_size × micro_batch`` rows. Its state is two counters, so a
    resumed run draws exactly the batches the original would have."""

    def __init__(self, rows: list[list[Example]], micro_batch: int, rank: int, world_size: int, seed: int,
                 pad_id: int, device: torch.device):  # fmt: skip
        if len(rows) < micro_batch * world_size:
            raise InputError(f"{len(rows)} training rows, fewer than micro_batch × processes = "
                             f"{micro_batch * world_size}: lower train.micro_batch")  # fmt: skip
        self.rows, self.micro_batch, self.rank, self.world = rows, micro_batch, rank, world_size
        self.seed, self.pad_id, self.device = seed, pad_id, device
        self.examples_per_epoch = len(rows)
        self.epoch, self.position = 0, 0

    def next_batch(self) -> tuple[torch.Tensor, ...]:
        return to_device(collate(self.next_rows(), self.pad_id), self.device)

    def next_rows(self) -> list[Any]:
        """This process's rows of the next micro-batch."""
        span = self.micro_batch * self.world
        if self.position + span > len(self.rows):  # the epoch's last partial batch is dropped
            self.epoch, self.position = self.epoch + 1, 0
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.rows))
        start = self.position + self.rank * self.micro_batch
        self.position += span
        return [self.rows[i] for i in order[start : start + self.micro_batch]]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
