"""``gptkit rm``: a reward model trained on ranked comparisons, as an objective of the one trainer.

The reward of a reply is a linear head on the final hidden state (:meth:`GPT.hidden`) of the last
token of prompt + reply rendered with the SFT run's chat template. That position comes from each
sequence's length, never from a pad id, so padding side and pad = eos cannot move it (the bugs of
trl#2778/#3750/#6952), and a sequence scores the same alone or in any batch.

Loss (InstructGPT): all C(K,2) pairs of one prompt's K replies sit in one batch element,
``−1/C(K,2) · Σ log σ(r_w − r_l)`` averaged over the prompts of a micro-batch. The body starts from
the SFT model (a reward model not initialised from it stays near 50%, trlx#338). After training
the reward is shifted so the best-ranked training replies (the demonstrations we have) score 0 on
average: ``RUN/reward.json`` holds the shift, :func:`load_reward_model` applies it to the bias.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gptkit.chat.data import conversation_files
from gptkit.chat.sft import ConversationBatches
from gptkit.chat.template import ChatTemplate, encode_chat, template_of
from gptkit.errors import ConfigError, InputError
from gptkit.io.atomic import atomic_write_json
from gptkit.io.json_files import read_json
from gptkit.io.shards import iter_jsonl
from gptkit.model.gpt import GPT, padded
from gptkit.model.store import TOKENIZER_DIR, load_model, read_model_config, resolve_model_dir
from gptkit.model.weights import read_weights
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.rlhf.prefs import ranked_pairs
from gptkit.tokenizer import load_tokenizer
from gptkit.train.checkpoint import HEADS
from gptkit.train.config import TrainConfig
from gptkit.train.objective import DataSpec, Metrics, Objective, Setup, TrainModule

NORM_FILE = "reward.json"
Padding = Literal["right", "left"]


@dataclass
class RMConfig:
    """The ``[rm]`` table of a recipe (the loop's settings are in ``[train]``)."""

    model: Path | None = None  # the SFT run (or model dir) the reward model starts from
    data: Path | None = None  # comparison shards from `gptkit data prefs`
    max_completions: int = 9  # a comparison keeps its best-ranked K replies (InstructGPT: K = 4…9)


# -- reading rewards ------------------------------------------------------------------------


def sequence_batch(seqs: list[list[int]], pad_id: int, padding: Padding = "right"):
    """``(idx, doc_ids, last)`` for sequences of different lengths: ids padded on ``padding``'s
    side, ``doc_ids`` (left padding: the pad run is a document of its own, so positions of the
    real tokens start at 0; None for right padding) and each sequence's last real position."""
    lengths = torch.tensor([len(s) for s in seqs])
    idx = padded(seqs, pad_id, left=padding == "left")
    width = idx.size(1)
    if padding == "right":
        return idx, None, lengths - 1
    doc_ids = (torch.arange(width)[None, :] >= (width - lengths)[:, None]).long()
    return idx, doc_ids, torch.full_like(lengths, width - 1)


def final_hidden(gpt: GPT, seqs: list[list[int]], pad_id: int, padding: Padding = "right") -> torch.Tensor:
    """Hidden states ``(N, n_embd)`` of the last token of each sequence."""
    device = gpt.transformer.wte.weight.device
    idx, doc_ids, last = sequence_batch(seqs, pad_id, padding)
    return gpt.hidden(idx.to(device), doc_ids=None if doc_ids is None else doc_ids.to(device), read=last.to(device))


class RewardModel(nn.Module):
    """A GPT body and a scalar head: ``model(seqs)`` → one reward per token sequence."""

    def __init__(self, gpt: GPT, head: nn.Linear, pad_id: int):
        super().__init__()
        self.gpt, self.head, self.pad_id = gpt, head, pad_id

    def forward(self, seqs: list[list[int]], padding: Padding = "right") -> torch.Tensor:
        return self.head(final_hidden(self.gpt, seqs, self.pad_id, padding)).squeeze(-1).float()


def reward_head(n_embd: int) -> nn.Linear:
    head = nn.Linear(n_embd, 1)
    nn.init.normal_(head.weight, std=1 / math.sqrt(n_embd + 1))
    nn.init.zeros_(head.bias)
    return head


def reply_ids(tokenizer: Any, template: ChatTemplate, prompt: list[dict], reply: str, block: int) -> list[int]:
    """Ids of ``prompt`` + assistant ``reply`` as the template renders them, cut from the left to
    ``block`` tokens (the end, where the reward is read, always stays)."""
    ids, _ = encode_chat(tokenizer, template, [*prompt, {"role": "assistant", "content": reply}])
    return ids[-block:]


def load_reward_model(run: str | Path, device: str | torch.device = "cpu", shifted: bool = True):
    """``(RewardModel, tokenizer, template)`` of a ``gptkit rm train`` run (its latest checkpoint),
    in eval mode, with the bias shifted as recorded in ``RUN/reward.json`` (unless ``shifted`` is False)."""
    ckpt = resolve_model_dir(run)
    if not (ckpt / HEADS).is_file():
        raise InputError(f"not a reward model: no {HEADS} in its checkpoint {ckpt.name}", run)
    gpt, tok = load_model(ckpt, device=device)
    weights = read_weights(ckpt / HEADS)
    if "reward.weight" not in weights:
        raise InputError(f"not a reward model: {HEADS} has no reward head", ckpt)
    head = nn.Linear(gpt.config.n_embd, 1)
    head.load_state_dict({"weight": weights["reward.weight"], "bias": weights["reward.bias"]})
    norm = Path(run) / NORM_FILE
    if shifted and norm.is_file():
        head.bias.data -= float(read_json(norm, "corrupt reward shift")["offset"])
    return RewardModel(gpt, head.to(device), tok.eot_id).eval(), tok, template_of(tok, run)


# -- training -------------------------------------------------------------------------------


def rm_train(config: RMConfig, train_config: TrainConfig, reporter: Reporter = NULL_REPORTER):
    """Train (or resume) the reward model; when the run is complete, write the reward shift."""
    from gptkit.train.trainer import train

    if config.model is None:
        raise ConfigError("rm.model is not set: give the SFT run the reward model starts from")
    if config.data is None:
        raise ConfigError("rm.data is not set: give --data DIR (a 'gptkit data prefs' output)")
    sft_dir = resolve_model_dir(config.model)
    model = dataclasses.replace(train_config.model, dropout=0.0 if train_config.model.dropout is None
                                else train_config.model.dropout)  # fmt: skip  (TRL disables dropout)
    train_config = dataclasses.replace(train_config, init_from=sft_dir, data=Path(config.data), model=model)
    objective = RewardObjective(Path(config.data), sft_dir, config.max_completions)
    summary = train(train_config, reporter, objective)
    if summary.step >= summary.steps and not (summary.reused and (Path(train_config.out) / NORM_FILE).exists()):
        write_reward_shift(Path(train_config.out), objective)
    return summary


def write_reward_shift(run: Path, objective: RewardObjective, limit: int = 256) -> float:
    """Mean reward of the best-ranked replies of (up to ``limit``) training comparisons → ``reward.json``.

    Works from the comparisons ``objective.data()`` read, so also for a finished run that ``train``
    reused without binding the objective (a rerun after a kill between the two writes)."""
    rm, _, _ = load_reward_model(run, shifted=False)
    block = rm.gpt.config.block_size
    examples = [objective.example(c, block) for c in objective.train_comparisons[:limit]]
    seqs = [ids[int(np.argmin(rank))] for ids, rank in examples]
    with torch.no_grad():
        offset = float(torch.cat([rm(seqs[i : i + 16]) for i in range(0, len(seqs), 16)]).mean())
    atomic_write_json(run / NORM_FILE, {"offset": offset, "demonstrations": len(seqs)})
    return offset


Example = tuple[list[list[int]], list[int]]  # K token sequences, their ranks


class RewardObjective(Objective):
    """K-wise ranking loss on comparison shards; a micro-batch is ``micro_batch`` comparisons."""

    name = "reward"
    stage = "rm"

    def __init__(self, data_dir: Path, base: Path, max_completions: int = 9):
        self.data_dir, self.base, self.max_completions = data_dir, base, max_completions

    def data(self) -> DataSpec:
        tok = load_tokenizer(self.base / TOKENIZER_DIR)
        self.tokenizer, self.template = tok, template_of(tok, self.base)
        self.train_comparisons = read_comparisons(conversation_files(self.data_dir, "train"), self.data_dir)
        self.val_comparisons = read_comparisons(conversation_files(self.data_dir, "val"), None)
        vocab = read_model_config(self.base).vocab_size
        return DataSpec(self.data_dir, vocab, tok.hash, tok, [self.data_dir / "manifest.json"])

    def bind(self, setup: Setup) -> None:
        self.setup = setup
        self.train_examples = [self.example(c, setup.block_size) for c in self.train_comparisons]
        self.val_examples = [self.example(c, setup.block_size) for c in self.val_comparisons]

    def example(self, comparison: dict, block: int) -> Example:
        order = sorted(range(len(comparison["ranking"])), key=lambda i: comparison["ranking"][i])
        keep = order[: self.max_completions]
        return ([reply_ids(self.tokenizer, self.template, comparison["prompt"], comparison["completions"][i], block)
                 for i in keep], [comparison["ranking"][i] for i in keep])  # fmt: skip

    def heads(self) -> dict[str, nn.Module]:
        return {"reward": reward_head(self.setup.model_config.n_embd)}

    def train_source(self) -> ComparisonBatches:
        s = self.setup
        return ComparisonBatches([[e] for e in self.train_examples], s.micro_batch, s.rank, s.world_size, s.seed,
                                 self.tokenizer.eot_id, s.device)  # fmt: skip

    def val_batches(self) -> list[Any]:
        s = self.setup
        mine = self.val_examples[s.rank :: s.world_size]
        if not mine:
            s.reporter.warn(f"{self.data_dir} has no held-out comparisons: no validation loss")
        return [mine[i : i + s.micro_batch] for i in range(0, len(mine), s.micro_batch)][: s.eval_batches]

    def loss(self, model: TrainModule, batch: list[Example]) -> tuple[torch.Tensor, Metrics]:
        seqs = [s for ids, _ in batch for s in ids]
        rewards = model.heads["reward"](final_hidden(model.gpt, seqs, self.tokenizer.eot_id)).squeeze(-1).float()
        return kwise_loss(rewards, [rank for _, rank in batch])

    def batch_tokens(self, batch: list[Example]) -> int:
        return sum(len(s) for ids, _ in batch for s in ids)

    def runs_output_layer(self) -> bool:
        return False  # a scalar head on the final position


class ComparisonBatches(ConversationBatches):
    """Micro-batches of comparisons in the order (and with the resumable state) of SFT's rows;
    they stay token lists: the loss pads them at the forward."""

    def next_batch(self) -> list[Example]:
        return [row[0] for row in self.next_rows()]


def kwise_loss(rewards: torch.Tensor, rankings: list[list[int]]) -> tuple[torch.Tensor, Metrics]:
    """InstructGPT's loss over comparisons whose rewards lie end to end in ``rewards``: per
    comparison ``−1/C · Σ_pairs log σ(r_w − r_l)`` (C its pairs of different rank), averaged over
    comparisons; metrics: pairwise accuracy and mean margin ``r_w − r_l`` over all pairs."""
    win, lose, weight = [], [], []
    offset = 0
    for ranking in rankings:
        pairs = ranked_pairs(ranking)
        win += [offset + i for i, _ in pairs]
        lose += [offset + j for _, j in pairs]
        weight += [1.0 / len(pairs)] * len(pairs)
        offset += len(ranking)
    margin = rewards[win] - rewards[lose]
    w = torch.tensor(weight, device=rewards.device)
    loss = -(w * F.logsigmoid(margin)).sum() / len(rankings)
    return loss, {"accuracy": (margin > 0).float().mean(), "margin": margin.detach().mean()}


def read_comparisons(files: list[Path], required_in: Path | None) -> list[dict]:
    out = [obj for f in files for _, obj in iter_jsonl(f)]
    if required_in is not None and not out:
        raise InputError("no training comparisons (train_*.jsonl.zst)", required_in)
    return out


# -- evaluation and scoring -----------------------------------------------------------------


@torch.no_grad()
def score_replies(rm: RewardModel, tokenizer: Any, template: ChatTemplate, items: list[tuple[list[dict], str]],
                  batch_size: int = 16) -> list[float]:  # fmt: skip
    """Rewards of ``(prompt messages, reply)`` items."""
    block = rm.gpt.config.block_size
    seqs = [reply_ids(tokenizer, template, prompt, reply, block) for prompt, reply in items]
    return [r for i in range(0, len(seqs), batch_size) for r in rm(seqs[i : i + batch_size]).tolist()]


def rm_eval(run: Path, data_dir: Path, split: str = "val", device: str = "cpu", limit: int | None = None) -> dict[str, Any]:
    """Pairwise accuracy (ties of reward count half), mean margin, accuracy by K and the "longer
    answer wins" baseline on the same pairs, over the (first ``limit``) ``split`` comparisons of ``data_dir``."""
    rm, tok, template = load_reward_model(run, device)
    comparisons = read_comparisons(conversation_files(data_dir, split), data_dir)[:limit]
    rewards = score_replies(rm, tok, template, [(c["prompt"], r) for c in comparisons for r in c["completions"]])
    hits, length_hits, margins, by_k = [], [], [], {}
    pos = 0
    for c in comparisons:
        r = rewards[pos : pos + len(c["completions"])]
        pos += len(c["completions"])
        for w, lo in ranked_pairs(c["ranking"]):
            hit = 1.0 if r[w] > r[lo] else 0.5 if r[w] == r[lo] else 0.0
            lw, ll = len(c["completions"][w]), len(c["completions"][lo])
            hits.append(hit)
            length_hits.append(1.0 if lw > ll else 0.5 if lw == ll else 0.0)
            margins.append(r[w] - r[lo])
            by_k.setdefault(len(c["completions"]), []).append(hit)
    if not hits:
        raise InputError(f"no {split} comparisons to evaluate on", data_dir)
    return {"split": split, "comparisons": len(comparisons), "pairs": len(hits), "accuracy": float(np.mean(hits)),
            "margin": float(np.mean(margins)), "length_baseline_accuracy": float(np.mean(length_hits)),
            "accuracy_by_k": {str(k): float(np.mean(v)) for k, v in sorted(by_k.items())},
            "mean_reward": float(np.mean(rewards))}  # fmt: skip


def read_score_items(path: Path) -> list[tuple[list[dict], str]]:
    """``(prompt, reply)`` of each line of a jsonl file: ``{"prompt", "completion"}`` (the prompt a
    string or messages) or ``{"messages"}`` ending with the assistant reply; else an InputError."""
    from gptkit.chat.sources import BadRecord
    from gptkit.rlhf.prefs import prompt_messages

    items = []
    for line, obj in iter_jsonl(path):
        try:
            if isinstance(obj.get("messages"), list) and obj["messages"][-1:][0].get("role") == "assistant":
                items.append((prompt_messages(obj["messages"][:-1]), str(obj["messages"][-1]["content"])))
            elif isinstance(obj.get("completion"), str):
                items.append((prompt_messages(obj.get("prompt")), obj["completion"]))
            else:
                raise BadRecord("expected {'prompt', 'completion'} or messages ending with an assistant turn")
        except BadRecord as e:
            raise InputError(str(e), path, line) from None
    return items
