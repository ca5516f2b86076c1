"""``gptkit ppo``: InstructGPT step 3, PPO against a reward model, as an objective of the one trainer.

The trainer's loop runs unchanged: its data source (:class:`RolloutSource`) makes its batches
from the current policy. When its buffer is used up it draws ``rollout_size`` prompts, samples
replies with the shared decoder (:func:`gptkit.model.generate.generate`: temperature, max
tokens, stop at the end of turn), and computes under ``no_grad``:

- the policy's log-probabilities of the sampled tokens (at the sampling temperature);
- the per-token KL to the frozen SFT reference, exact over the vocabulary
  (``Σ_v π log π/π_ref``, so ≥ 0 at every token; single-sample estimators go negative with
  top-k or padding, trl#925/#736/#1005), times β (fixed, or adapted to ``kl_target``);
- the reply's score from the reward model (or a regex count), added at the last token;
- values from the value model (a copy of the reward model: body and head), and GAE (γ, λ).

Then every micro-batch of the buffer is served ``ppo_epochs`` times, in a seeded order, to the
clipped policy loss + ``vf_coef`` × clipped value loss + β × the exact KL at the reply tokens (the
part of the KL's gradient the reward cannot carry, see :meth:`PPOObjective._kl_loss`) (+ ``ptx_coef``
× LM loss on pre-training tokens: PPO-ptx). The buffer, β and the counters are the source's state, saved in every
checkpoint, so a resumed run continues bit for bit (even mid-rollout).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch
from torch import nn

from gptkit.chat.data import conversation_files
from gptkit.chat.template import encode_chat, template_of
from gptkit.errors import ConfigError, InputError
from gptkit.io.shards import iter_jsonl
from gptkit.model.generate import Request, SamplingConfig, generate
from gptkit.model.gpt import GPT
from gptkit.model.store import TOKENIZER_DIR, load_model, read_model_config, resolve_model_dir
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.rlhf.reward import load_reward_model, score_replies
from gptkit.tokenizer import load_tokenizer
from gptkit.train.config import TrainConfig
from gptkit.train.objective import DataSpec, Metrics, Objective, Setup, TrainModule, to_device

SAMPLES_FILE = "rollouts.jsonl"


@dataclass
class PPOConfig:
    """The ``[ppo]`` table of a recipe (the loop's settings are in ``[train]``). Defaults: TRL's."""

    model: Path | None = None  # the SFT run: the initial policy and the frozen reference
    reward: str | None = None  # a `gptkit rm train` run, or "regex:PATTERN" (reward = matches in the reply)
    prompts: Path | None = None  # `gptkit data prefs` or `data chat` output (train split)
    rollout_size: int = 16  # prompts per rollout, per process
    ppo_epochs: int = 4  # passes over each rollout
    max_tokens: int = 53  # longest reply
    temperature: float = 0.7
    kl_coef: float = 0.05  # β
    kl_target: float | None = None  # adapt β towards this KL per reply (Ziegler et al. 2019); None: fixed
    kl_horizon: int = 10_000
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    ptx_data: Path | None = None  # token directory (`gptkit data pack`) for the pre-training mix
    ptx_coef: float = 0.0  # γ of PPO-ptx (InstructGPT: 27.8)
    sample_interval: int = 1  # write rollout samples to RUN/rollouts.jsonl every N rollouts (0: never)

    def __post_init__(self) -> None:
        for name in ("rollout_size", "ppo_epochs", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (PPO needs the sampling distribution), got {self.temperature}")


def ppo(config: PPOConfig, train_config: TrainConfig, reporter: Reporter = NULL_REPORTER):
    """Train (or resume) the policy; returns the trainer's summary."""
    from gptkit.train.trainer import train

    for key in ("model", "reward", "prompts"):
        if getattr(config, key) is None:
            raise ConfigError(f"ppo.{key} is not set")
    if config.ptx_coef > 0 and config.ptx_data is None:
        raise ConfigError("ppo.ptx_coef > 0 needs ppo.ptx_data (a 'gptkit data pack' token directory)")
    sft_dir = resolve_model_dir(config.model)
    model = dataclasses.replace(train_config.model, dropout=0.0 if train_config.model.dropout is None
                                else train_config.model.dropout)  # fmt: skip  (ratios need equal passes)
    train_config = dataclasses.replace(train_config, init_from=sft_dir, data=Path(config.prompts), model=model)
    return train(train_config, reporter, PPOObjective(config, sft_dir, Path(train_config.out)))


# -- rewards --------------------------------------------------------------------------------


class RegexReward:
    """Toy reward: the number of matches of a regular expression in the reply."""

    def __init__(self, pattern: str):
        try:
            self.pattern = re.compile(pattern)
        except re.error as e:
            raise ConfigError(f"ppo.reward: bad regular expression {pattern!r}: {e}") from None

    def __call__(self, prompts: list[list[dict]], replies: list[str]) -> list[float]:
        return [float(len(self.pattern.findall(r))) for r in replies]


class ModelReward:
    """Scores of a ``gptkit rm train`` run."""

    def __init__(self, run: Path, device: torch.device):
        self.run = run
        self.model, self.tokenizer, self.template = load_reward_model(run, device)
        self.model.requires_grad_(False)

    def __call__(self, prompts: list[list[dict]], replies: list[str]) -> list[float]:
        return score_replies(self.model, self.tokenizer, self.template, list(zip(prompts, replies, strict=True)))


class ValueModel(nn.Module):
    """A GPT body and a scalar head: a value per position."""

    def __init__(self, gpt: GPT, head: nn.Linear):
        super().__init__()
        del gpt.lm_head  # it reads hidden states only; the tied output layer would be saved twice
        self.gpt, self.head = gpt, head
        self.requires_grad_(True)  # copied from frozen models

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.gpt.hidden(idx)).squeeze(-1).float()


# -- the objective --------------------------------------------------------------------------


class PPOObjective(Objective):
    name = "ppo"
    stage = "ppo"

    def __init__(self, config: PPOConfig, sft_dir: Path, run_dir: Path):
        self.config, self.sft_dir, self.run_dir = config, sft_dir, run_dir

    def data(self) -> DataSpec:
        tok = load_tokenizer(self.sft_dir / TOKENIZER_DIR)
        self.tokenizer, self.template = tok, template_of(tok, self.sft_dir)
        self.stop_id = tok.specials[self.template.stop_token]
        self.prompts = read_prompts(Path(self.config.prompts))
        return DataSpec(Path(self.config.prompts), read_model_config(self.sft_dir).vocab_size, tok.hash, tok,
                        [Path(self.config.prompts) / "manifest.json"])  # fmt: skip

    def bind(self, setup: Setup) -> None:
        if self.config.rollout_size % setup.micro_batch:
            raise ConfigError(f"ppo.rollout_size={self.config.rollout_size} is not a multiple of "
                              f"train.micro_batch={setup.micro_batch}")  # fmt: skip
        self.setup = setup
        self.reference, _ = load_model(self.sft_dir, device=setup.device)
        self.reference.requires_grad_(False)
        reward = self.config.reward
        if reward.startswith("regex:"):
            self.reward = RegexReward(reward[len("regex:") :])
        else:
            self.reward = ModelReward(Path(reward), setup.device)
            if self.reward.tokenizer.hash != self.tokenizer.hash:
                raise InputError("reward model's tokenizer differs from the policy's", reward)

    def heads(self) -> dict[str, nn.Module]:
        """The value model: a copy of the reward model (TRL), or of the SFT model with a zero head."""
        if isinstance(self.reward, ModelReward):
            return {"value": ValueModel(copy.deepcopy(self.reward.model.gpt), copy.deepcopy(self.reward.model.head))}
        head = nn.Linear(self.reference.config.n_embd, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return {"value": ValueModel(copy.deepcopy(self.reference), head)}

    def attach(self, module: TrainModule) -> None:
        self.module = module

    def train_source(self) -> RolloutSource:
        return RolloutSource(self)

    def val_batches(self) -> list[Any]:
        return []  # PPO has no held-out loss: `gptkit rm eval`-style scoring of the policy measures it

    def loss(self, model: TrainModule, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        c, reply = self.config, batch["mask"].bool()
        logp_all = reply_log_probs(model.gpt, batch["x"], reply, c.temperature)
        logp = logp_all.gather(-1, batch["y"][reply][:, None])[:, 0]
        old_logp, adv, old_v, returns = (batch[k][reply] for k in ("old_logp", "advantages", "values", "returns"))
        ratio = torch.exp(logp - old_logp)
        pg = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - c.cliprange, 1 + c.cliprange)).mean()
        values = model.heads["value"](batch["x"])[reply]
        clipped = old_v + (values - old_v).clamp(-c.cliprange_value, c.cliprange_value)
        vf = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2).mean()
        loss = pg + c.vf_coef * vf + self._kl_loss(batch, logp_all, reply)
        with torch.no_grad():
            metrics = {"policy_loss": pg.detach(), "value_loss": vf.detach(),
                       "entropy": -(logp_all.exp() * logp_all).sum(-1).mean(),
                       "clip_fraction": ((ratio - 1).abs() > c.cliprange).float().mean(),
                       "approx_kl": (0.5 * (logp - old_logp) ** 2).mean(),
                       **{k: v for k, v in batch.items() if k.startswith("rollout_")}}  # fmt: skip
        if "ptx_x" in batch:
            _, ptx = model.gpt(batch["ptx_x"], batch["ptx_y"])
            loss = loss + c.ptx_coef * ptx
            metrics["ptx_loss"] = ptx.detach()
        return loss, metrics

    def _kl_loss(self, batch: dict[str, torch.Tensor], logp_all: torch.Tensor, reply: torch.Tensor) -> torch.Tensor:
        """β × the exact KL to the reference at the reply positions, scaled as the whitening scaled
        the advantages. The KL in the reward is a function of the prefix, not of the sampled token,
        so the policy gradient only steers which prefixes are visited; this term is the rest of the
        gradient of −β·KL (without it β hardly holds the policy near the SFT model)."""
        beta = float(batch["rollout_kl_coef"])
        if beta == 0:
            return logp_all.new_zeros(())
        with torch.no_grad():
            ref = reply_log_probs(self.reference, batch["x"], reply, self.config.temperature)
        kl = (logp_all.exp() * (logp_all - ref)).sum(-1).mean()
        return beta / (batch["rollout_advantage_std"] + 1e-8) * kl

    def batch_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["x"].numel()


def reply_log_probs(gpt: GPT, x: torch.Tensor, reply: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probabilities ``(N, vocab)`` at the ``N`` positions of ``x`` where ``reply`` is true (those
    that predict a reply token): the LM head and the softmax skip the prompt and the padding."""
    return torch.log_softmax(gpt.logits(gpt.hidden(x)[reply]).float() / temperature, dim=-1)


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimates and returns for ``(B, T)`` per-token rewards and values of
    replies left-aligned in their rows (``mask``: 1 on reply tokens); the value after a reply's
    last token is 0. Returns ``(advantages, returns)``, zero outside the mask."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.size(0), dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros_like(running)
    for t in reversed(range(rewards.size(1))):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * m
        advantages[:, t] = running
        next_value = values[:, t] * m
    return advantages, (advantages + values) * mask


def read_prompts(data_dir: Path, split: str = "train") -> list[list[dict]]:
    """Prompts (messages ending with a user turn) of a split of a ``data prefs`` or ``data chat`` output."""
    prompts = []
    for f in conversation_files(data_dir, split):
        for line, obj in iter_jsonl(f):
            messages = obj.get("prompt") or obj.get("messages", [])[:-1]
            if not messages or messages[-1].get("role") != "user":
                raise InputError("record without a prompt ending in a user turn", f, line)
            prompts.append(messages)
    if not prompts:
        raise InputError(f"no prompts ({split}_*.jsonl.zst of 'gptkit data prefs' or 'data chat')", data_dir)
    return prompts


class RolloutSource:
    """Micro-batches made from the current policy: rollout ``k`` (its prompts, sampling seeds and
    minibatch orders drawn from ``(seed, rank, k)``), served ``ppo_epochs`` times, then rollout
    ``k + 1``. The state holds the buffer itself, so a resumed run needs no regeneration."""

    def __init__(self, objective: PPOObjective):
        self.obj, self.cfg, self.setup = objective, objective.config, objective.setup
        self.examples_per_epoch = len(objective.prompts) * self.cfg.ppo_epochs
        self.per_rollout = self.cfg.ppo_epochs * self.cfg.rollout_size // self.setup.micro_batch
        self.rollout, self.served, self.kl_coef = 0, self.per_rollout, self.cfg.kl_coef
        self.buffer: list[dict[str, Any]] = []
        self.stats: dict[str, float] = {}
        self.ptx = self._ptx_loader()

    def next_batch(self) -> dict[str, torch.Tensor]:
        if self.served == self.per_rollout:
            self.buffer, self.stats = make_rollout(self.obj, self.rollout, self.kl_coef)
            self._adapt_kl(self.stats["rollout_kl"])
            self.rollout, self.served = self.rollout + 1, 0
        epoch, chunk = divmod(self.served, self.cfg.rollout_size // self.setup.micro_batch)
        order = self._rng(self.rollout - 1, epoch).permutation(len(self.buffer))
        rows = [self.buffer[i] for i in order[chunk * self.setup.micro_batch : (chunk + 1) * self.setup.micro_batch]]
        self.served += 1
        batch = collate_rollout(rows)
        batch.update({k: torch.tensor(v) for k, v in self.stats.items()})
        if self.ptx is not None:
            x, y = self.ptx.next_batch()
            batch.update(ptx_x=torch.from_numpy(x), ptx_y=torch.from_numpy(y))
        keys = list(batch)
        return dict(zip(keys, to_device(tuple(batch[k] for k in keys), self.setup.device), strict=True))

    def _rng(self, rollout: int, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.setup.seed, self.setup.rank, rollout, epoch])

    def _adapt_kl(self, kl: float) -> None:
        """Ziegler et al.'s proportional controller (TRL's AdaptiveKLController)."""
        if self.cfg.kl_target is None:
            return
        error = float(np.clip(kl / self.cfg.kl_target - 1, -0.2, 0.2))
        self.kl_coef *= 1 + error * self.cfg.rollout_size * self.setup.world_size / self.cfg.kl_horizon

    def _ptx_loader(self):
        if self.cfg.ptx_data is None or self.cfg.ptx_coef <= 0:
            return None
        from gptkit.pack.loader import TokenLoader

        s = self.setup
        loader = TokenLoader(self.cfg.ptx_data, "train", s.block_size, s.micro_batch, s.rank, s.world_size, s.seed)
        if loader.meta.get("vocab_size") != s.model_config.vocab_size:
            raise InputError(f"ptx tokens have vocab_size {loader.meta.get('vocab_size')}, the policy "
                             f"{s.model_config.vocab_size}", self.cfg.ptx_data)  # fmt: skip
        return loader

    def state_dict(self) -> dict[str, Any]:
        return {"rollout": self.rollout, "served": self.served, "kl_coef": self.kl_coef, "buffer": self.buffer,
                "stats": self.stats, "ptx": self.ptx.state_dict() if self.ptx is not None else None}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rollout, self.served, self.kl_coef = int(state["rollout"]), int(state["served"]), float(state["kl_coef"])
        self.buffer, self.stats = state["buffer"], state["stats"]
        if self.ptx is not None:
            self.ptx.load_state_dict(state["ptx"])


def collate_rollout(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Right-padded ``x`` (sequence minus its last token), ``y`` (next tokens) and, at the
    positions whose next token is a reply token, the mask and the rollout's per-token arrays."""
    width = max(len(r["ids"]) for r in rows) - 1
    out = {"x": torch.zeros(len(rows), width, dtype=torch.long), "y": torch.full((len(rows), width), -1)}
    for key in ("mask", "old_logp", "values", "advantages", "returns"):
        out[key] = torch.zeros(len(rows), width)
    for b, r in enumerate(rows):
        ids, start = torch.tensor(r["ids"]), r["prompt_len"] - 1
        n = len(r["ids"]) - r["prompt_len"]
        out["x"][b, : len(ids) - 1], out["y"][b, : len(ids) - 1] = ids[:-1], ids[1:]
        out["mask"][b, start : start + n] = 1
        for key in ("old_logp", "values", "advantages", "returns"):
            out[key][b, start : start + n] = torch.tensor(r[key])
    return out


@torch.no_grad()
def make_rollout(obj: PPOObjective, k: int, kl_coef: float) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Rollout ``k``: replies sampled from the policy, their log-probs, KL, score, values and GAE."""
    cfg, setup, policy = obj.config, obj.setup, obj.module.gpt
    mine = obj.prompts[setup.rank :: setup.world_size]
    prompts = [mine[(k * cfg.rollout_size + i) % len(mine)] for i in range(cfg.rollout_size)]
    keep = max(policy.config.block_size - cfg.max_tokens, 1)
    prompt_ids = [encode_chat(obj.tokenizer, obj.template, p, add_generation_prompt=True)[0][-keep:] for p in prompts]
    seed = int(np.random.SeedSequence([setup.seed, setup.rank, k]).generate_state(1)[0])
    requests = [Request(ids, cfg.max_tokens, stop=obj.template.stop_strings, stop_ids=[obj.stop_id]) for ids in prompt_ids]
    completions = generate(policy, requests, SamplingConfig(temperature=cfg.temperature, seed=seed),
                           batch_size=len(requests), tokenizer=obj.tokenizer)  # fmt: skip
    replies = [c.tokens + ([obj.stop_id] if c.finish == "stop" and not _ends_with_stop_string(obj, c.tokens) else [])
               for c in completions]  # fmt: skip
    texts = [reply_text(obj, c.tokens) for c in completions]
    scores = obj.reward(prompts, texts)
    rows = [{"ids": p + r, "prompt_len": len(p)} for p, r in zip(prompt_ids, replies, strict=True)]
    was_training = policy.training
    policy.eval()
    for i in range(0, len(rows), setup.micro_batch):
        _score_rows(obj, rows[i : i + setup.micro_batch], scores[i : i + setup.micro_batch], kl_coef)
    policy.train(was_training)
    stats = {"rollout_reward": float(np.mean(scores)), "rollout_kl": float(np.mean([r["kl"] for r in rows])),
             "rollout_response_length": float(np.mean([len(r) for r in replies])), "rollout_kl_coef": kl_coef,
             "rollout_advantage_std": _whiten(rows)}  # fmt: skip
    _write_samples(obj, k, prompts, texts, scores)
    return rows, stats


def _score_rows(obj: PPOObjective, rows: list[dict[str, Any]], scores: list[float], kl_coef: float) -> None:
    """Per-token log-probs, exact KL to the reference, values, rewards and GAE of some rollout rows."""
    cfg = obj.config
    batch = to_device(tuple(collate_rollout([{**r, **_zeros(r)} for r in rows]).values()), obj.setup.device)
    x, y, mask = batch[0], batch[1], batch[2]
    reply = mask.bool()
    logp_all = reply_log_probs(obj.module.gpt, x, reply, cfg.temperature)
    ref_all = reply_log_probs(obj.reference, x, reply, cfg.temperature)
    logp, kl = torch.zeros_like(mask), torch.zeros_like(mask)
    logp[reply] = logp_all.gather(-1, y[reply][:, None])[:, 0]
    kl[reply] = (logp_all.exp() * (logp_all - ref_all)).sum(-1).clamp(min=0)  # exact; clamp: rounding only
    values = obj.module.heads["value"](x) * mask
    rewards = -kl_coef * kl
    last = mask.sum(1).long() + torch.tensor([r["prompt_len"] - 2 for r in rows], device=mask.device)
    rewards[torch.arange(len(rows)), last] += torch.tensor(scores, device=mask.device)
    shifted = [_left_align(t, rows) for t in (rewards, values, mask)]
    advantages, returns = gae(*shifted, cfg.gamma, cfg.lam)
    for b, r in enumerate(rows):
        s, n = r["prompt_len"] - 1, len(r["ids"]) - r["prompt_len"]
        r.update(old_logp=logp[b, s : s + n].tolist(), values=values[b, s : s + n].tolist(),
                 advantages=advantages[b, :n].tolist(), returns=returns[b, :n].tolist(),
                 kl=float(kl[b].sum()), kl_tokens=kl[b, s : s + n].tolist(), score=scores[b])  # fmt: skip


def _zeros(row: dict[str, Any]) -> dict[str, list[float]]:
    n = len(row["ids"]) - row["prompt_len"]
    return {k: [0.0] * n for k in ("old_logp", "values", "advantages", "returns")}


def _left_align(t: torch.Tensor, rows: list[dict[str, Any]]) -> torch.Tensor:
    """Each row's reply positions moved to the start of the row (what :func:`gae` reads)."""
    out = torch.zeros_like(t)
    for b, r in enumerate(rows):
        s, n = r["prompt_len"] - 1, len(r["ids"]) - r["prompt_len"]
        out[b, :n] = t[b, s : s + n]
    return out


def _whiten(rows: list[dict[str, Any]]) -> float:
    """Advantages of the whole rollout to mean 0, variance 1; returns their standard deviation before."""
    flat = np.concatenate([r["advantages"] for r in rows])
    mean, std = flat.mean(), flat.std()
    for r in rows:
        r["advantages"] = ((np.asarray(r["advantages"]) - mean) / (std + 1e-8)).astype(np.float32).tolist()
    return float(std)


def reply_text(obj: PPOObjective, tokens: list[int]) -> str:
    """The reply as text, cut at the template's stop strings."""
    text = obj.tokenizer.decode(tokens)
    for stop in obj.template.stop_strings:
        text = text.split(stop)[0]
    return text


def _ends_with_stop_string(obj: PPOObjective, tokens: list[int]) -> bool:
    text = obj.tokenizer.decode(tokens)
    return any(s in text for s in obj.template.stop_strings)


def _write_samples(obj: PPOObjective, k: int, prompts: list, texts: list[str], scores: list[float]) -> None:
    every = obj.config.sample_interval
    if not every or k % every or obj.setup.rank != 0:
        return
    obj.run_dir.mkdir(parents=True, exist_ok=True)
    with open(obj.run_dir / SAMPLES_FILE, "ab") as f:
        for prompt, text, score in list(zip(prompts, texts, scores, strict=True))[:2]:
            f.write(orjson.dumps({"rollout": k, "prompt": prompt, "reply": text, "score": score}) + b"\n")


def evaluate_policy(policy: Path, config: PPOConfig, split: str = "val", limit: int = 64,
                    seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Mean reward and mean summed KL to the SFT model (``config.model``) of replies the policy
    samples for the first ``limit`` prompts of ``split``, and its win rate against the SFT
    model's replies to the same prompts (ties count half)."""
    from gptkit.train.objective import Setup

    prompts = read_prompts(Path(config.prompts), split)[:limit]
    config = dataclasses.replace(config, rollout_size=len(prompts), sample_interval=0)
    results = {}
    for name, model_dir in (("policy", policy), ("sft", config.model)):
        obj = PPOObjective(config, resolve_model_dir(config.model), Path("."))
        obj.data()
        obj.prompts = prompts
        gpt, _ = load_model(model_dir)
        obj.bind(Setup(gpt.config, gpt.config.block_size, len(prompts), 1, 0, 1, seed, torch.device("cpu")))
        obj.attach(TrainModule(gpt, obj.heads(), obj))
        results[name] = make_rollout(obj, 0, kl_coef=0.0)
    (rows, stats), (sft_rows, sft_stats) = results["policy"], results["sft"]
    wins = [1.0 if a["score"] > b["score"] else 0.5 if a["score"] == b["score"] else 0.0
            for a, b in zip(rows, sft_rows, strict=True)]  # fmt: skip
    return {"prompts": len(prompts), "mean_reward": stats["rollout_reward"], "mean_kl": stats["rollout_kl"],
            "sft_mean_reward": sft_stats["rollout_reward"], "win_rate_vs_sft": float(np.mean(wins)),
            "mean_response_length": stats["rollout_response_length"],
            "sft_mean_response_length": sft_stats["rollout_response_length"]}  # fmt: skip
