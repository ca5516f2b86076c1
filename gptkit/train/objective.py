"""Training objectives: what the loop of :mod:`gptkit.train.trainer` trains, on which batches.

The loop is the same for every objective (LM pre-training, GPT-1 classification heads with an
auxiliary LM loss, SFT with loss masks, a reward model's ranking loss, …): gradient accumulation,
clipping, AdamW, the learning-rate schedule, DDP/FSDP, bitwise resume, checkpoints, metrics,
MFU, evaluation points and samples. An :class:`Objective` supplies the rest, and the loop calls
it in this order:

1. :meth:`Objective.data` — once, before the model exists: the vocabulary size, tokenizer and
   input files of the objective's data (the model's ``vocab_size`` must equal it).
2. :meth:`Objective.bind` — once, with the :class:`Setup` the loop decided (model shape,
   sequence length, micro-batch, rank / world size, seed, device).
3. :meth:`Objective.heads` — modules trained beside the GPT body (a classifier, a reward head).
   The loop puts them in a :class:`TrainModule` with the body, so they are wrapped by DDP/FSDP,
   in the optimizer's parameter groups, saved in every checkpoint (``heads.safetensors``) and
   restored on resume.
4. :meth:`Objective.train_source` — the resumable stream of training micro-batches; its state is
   saved per process in every checkpoint so a resumed run draws exactly the batches it would
   have drawn. Then :meth:`Objective.attach` hands over the built module: a source may make its
   batches from the current model (PPO samples its rollouts from the policy being trained).
5. :meth:`Objective.val_batches` — fixed validation micro-batches, evaluated every
   ``eval_interval`` steps (their mean loss is ``val_loss``, their metrics ``val_<name>``).
6. :meth:`Objective.loss` — per micro-batch, inside the wrapped module's ``forward`` (so DDP and
   FSDP see it), under autocast.
7. :meth:`Objective.batch_tokens` — per micro-batch, for tokens/s and MFU.
8. :meth:`Objective.evaluate` — at each evaluation point, after the validation loss: extra
   metrics (accuracy on a dev set, …), logged with the step.

``LMObjective`` (below) is next-token prediction on packed token shards: ``gptkit train``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from gptkit.errors import ConfigError, InputError
from gptkit.model.gpt import GPT, GPTConfig, doc_ids_from_eot
from gptkit.pack.loader import TokenLoader, shard_paths
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.train.config import TrainConfig

Metrics = dict[str, torch.Tensor]


@dataclass(frozen=True)
class DataSpec:
    """What the loop must know about an objective's data before it builds the model."""

    source: Path  # the data directory or file (named in errors about it)
    vocab_size: int  # the model's vocab_size must equal it
    tokenizer_hash: str | None = None  # compared with init_from's and a checkpoint's tokenizer
    tokenizer: Any = None  # saved in every checkpoint, used for samples; None: no samples
    inputs: list[Path] = field(default_factory=list)  # files recorded (with hashes) in the run's manifest


@dataclass(frozen=True)
class Setup:
    """What the loop decided, handed to :meth:`Objective.bind`."""

    model_config: GPTConfig
    block_size: int  # the training sequence length (≤ the model's context)
    micro_batch: int  # rows per micro-batch on each process
    eval_batches: int  # at most this many validation micro-batches per process
    rank: int
    world_size: int
    seed: int
    device: torch.device
    reporter: Reporter = NULL_REPORTER  # for warnings (e.g. no validation data)


class BatchSource(Protocol):
    """A resumable stream of training micro-batches for one process.

    Batches are whatever :meth:`Objective.loss` takes, already on the device. ``state_dict``
    must be JSON-serialisable and small; ``load_state_dict(state_dict())`` in a new process must
    continue with exactly the batches the original would have yielded next (nothing replayed or
    skipped). Randomness must come from the source's own seeded generators, not global ones.
    """

    #: Rows (examples, windows) one epoch holds over all processes: ``train.epochs`` → steps.
    examples_per_epoch: int

    def next_batch(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TrainModule(nn.Module):
    """The module the loop wraps (DDP / FSDP / ``torch.compile``) and optimises: the GPT body
    (``gpt``) and the objective's heads (``heads``). Calling it on a batch runs the objective's
    :meth:`~Objective.loss` on it."""

    def __init__(self, gpt: GPT, heads: dict[str, nn.Module], objective: Objective):
        super().__init__()
        self.gpt = gpt
        self.heads = nn.ModuleDict(heads)
        self.objective = objective  # not a module: no parameters, not in the state dict

    def forward(self, batch: Any) -> tuple[torch.Tensor, Metrics]:
        return self.objective.loss(self, batch)


class Objective(ABC):
    """What is trained and on what; see the module docstring for when each method is called."""

    #: Recorded in checkpoints; a checkpoint of another objective is not resumed.
    name: ClassVar[str]
    #: The stage name of the run's manifest (what `gptkit verify` and the stage runner see).
    stage: ClassVar[str] = "train"

    def input_dirs(self) -> list[Path]:
        """gptkit outputs the data comes from, refused before :meth:`data` opens them when their
        stage has not finished (an unfinished `data pack`, say)."""
        return []

    @abstractmethod
    def data(self) -> DataSpec:
        """Open the data (cheaply: headers and manifests) and describe it; bad data → InputError."""

    @abstractmethod
    def bind(self, setup: Setup) -> None:
        """Remember the loop's choices; called once, before any other method below."""

    def attach(self, module: TrainModule) -> None:  # noqa: B027 - optional hook, no-op by default
        """The module being trained (body and heads on the device, initial or resumed weights),
        handed over once before the first batch is drawn: for objectives whose batches come from
        the model itself (PPO's rollouts). Default: nothing."""

    def heads(self) -> dict[str, nn.Module]:
        """Freshly initialised extra modules, by name (called under the run's seed, after the
        body is built; weights from a checkpoint replace them on resume). Default: none."""
        return {}

    @abstractmethod
    def train_source(self) -> BatchSource:
        """This process's training micro-batches (rank ``r`` of ``world_size`` takes its own share)."""

    @abstractmethod
    def val_batches(self) -> list[Any]:
        """Fixed validation micro-batches of this process (the same at every evaluation), at most
        ``setup.eval_batches``; ``[]`` (with a warning) if there is no validation data."""

    @abstractmethod
    def loss(self, model: TrainModule, batch: Any) -> tuple[torch.Tensor, Metrics]:
        """``(mean loss, metrics)`` of one micro-batch: a scalar tensor to minimise and extra scalar
        tensors to log (averaged over micro-batches and processes, e.g. ``{"lm_loss": …,
        "accuracy": …}``; keys other than ``loss`` and the loop's own). Use ``model.gpt`` (its
        ``hidden()`` / ``forward``) and ``model.heads[name]``; do not call ``.item()``."""

    @abstractmethod
    def batch_tokens(self, batch: Any) -> int:
        """Tokens of one micro-batch of this process that the model processed (host-side, no sync)."""

    def runs_output_layer(self) -> bool:
        """Whether the loss runs the vocabulary-sized output layer on every token (the FLOPs behind
        the logged MFU). Default: yes, as language modelling does."""
        return True

    def evaluate(self, model: TrainModule, step: int) -> dict[str, float]:
        """Extra metrics at an evaluation point (model in eval mode, no grad), every process calls
        it. Under FSDP only ``model(batch)`` and ``model.gpt`` may be called. Default: none."""
        return {}


class LMBatches:
    """Next-token windows ``(x, y)`` from :class:`TokenLoader`, moved to the device."""

    def __init__(self, loader: TokenLoader, device: torch.device):
        self.loader, self.device = loader, device
        self.examples_per_epoch = loader.windows_per_epoch

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.loader.next_batch()
        return to_device((torch.from_numpy(x), torch.from_numpy(y)), self.device)

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state)


class LMObjective(Objective):
    """Language modelling on packed token shards (``gptkit data pack``): mean next-token
    cross-entropy over ``block_size`` windows, optionally attending only within documents."""

    name = "lm"

    def __init__(self, data_dir: Path, sampler: str = "epoch", doc_mask: bool = False):
        self.data_dir, self.sampler, self.doc_mask = Path(data_dir), sampler, doc_mask
        self.meta: dict[str, Any] = {}

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> LMObjective:
        if cfg.data is None:
            raise ConfigError("train.data is not set: give --data TOKEN_DIR or set data in the recipe's [train] table")
        return cls(cfg.data, cfg.sampler, cfg.doc_mask)

    def input_dirs(self) -> list[Path]:
        return [self.data_dir]

    def data(self) -> DataSpec:
        self.meta = TokenLoader(self.data_dir, "train", block_size=1, batch_size=1).meta
        if self.meta.get("vocab_size") is None:
            raise InputError("token directory does not record the vocabulary size (manifest.json)", self.data_dir)
        manifest = self.data_dir / "manifest.json"
        return DataSpec(self.data_dir, int(self.meta["vocab_size"]), self.meta.get("tokenizer_hash"),
                        self._tokenizer(), [manifest] if manifest.is_file() else [])  # fmt: skip

    def bind(self, setup: Setup) -> None:
        self.setup = setup

    def train_source(self) -> LMBatches:
        s = self.setup
        loader = TokenLoader(self.data_dir, "train", s.block_size, s.micro_batch, s.rank, s.world_size,
                             s.seed, self.sampler)  # fmt: skip
        return LMBatches(loader, s.device)

    def val_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The first ``eval_batches`` micro-batches of the ``val`` split (per process)."""
        s = self.setup
        if not shard_paths(self.data_dir, "val"):
            s.reporter.warn(f"{self.data_dir} has no 'val_*.bin' shards: no validation loss")
            return []
        try:
            val = TokenLoader(self.data_dir, "val", s.block_size, s.micro_batch, s.rank, s.world_size, s.seed)
        except InputError as e:
            s.reporter.warn(f"no validation loss: {e}")
            return []
        n = min(s.eval_batches, max(val.windows_per_epoch // (s.micro_batch * s.world_size), 1))
        batches = LMBatches(val, s.device)
        return [batches.next_batch() for _ in range(n)]

    def loss(self, model: TrainModule, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        x, y = batch
        doc_ids = doc_ids_from_eot(x, int(self.meta["eot_id"])) if self.doc_mask else None
        _, loss = model.gpt(x, y, doc_ids=doc_ids)
        return loss, {}

    def batch_tokens(self, batch: tuple[torch.Tensor, torch.Tensor]) -> int:
        return batch[0].numel()

    def _tokenizer(self):
        tok_dir = self.data_dir / "tokenizer"
        if not tok_dir.is_dir():
            return None
        from gptkit.tokenizer import load_tokenizer

        return load_tokenizer(tok_dir)


def to_device(tensors: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Host tensors on ``device`` (pinned and copied asynchronously to a GPU)."""
    if device.type == "cuda":
        return tuple(t.pin_memory().to(device, non_blocking=True) for t in tensors)
    return tuple(t.to(device) for t in tensors)
