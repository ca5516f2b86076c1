"""The training loop of ``gptkit train``: ``train(config, reporter, objective) -> TrainSummary``.

One optimizer step = ``grad_accum`` micro-batches on every process (gradients synchronised on the
last one only), gradient clipping, then AdamW with the step's learning rate. Every
``eval_interval`` steps the loss on fixed validation batches is measured, the objective's
evaluation hook runs and a few samples are drawn from fixed prompts. Checkpoints hold everything
needed to continue bit for bit: weights (body and heads), optimizer, data position and every RNG
of every process.

What a batch is and how its loss is computed is the *objective*'s business
(:mod:`gptkit.train.objective`); without one, ``train`` pre-trains a language model on the token
shards of ``config.data`` (:class:`~gptkit.train.objective.LMObjective`).

Library use (what ``gptkit train`` and the quickstart call)::

    from gptkit.train.config import TrainConfig
    from gptkit.train.trainer import train
    summary = train(TrainConfig(data=Path("runs/q/tokens"), out=Path("runs/q/train"), steps=200))
    print(summary.final_val_loss, summary.run_dir)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from gptkit.config import dump_toml, to_dict
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.io.manifest import Manifest, file_record
from gptkit.model.flops import device_peak, flops_per_token
from gptkit.model.flops import mfu as flops_mfu
from gptkit.model.generate import Request, SamplingConfig, generate
from gptkit.model.gpt import GPT, GPTConfig, preset
from gptkit.model.store import load_model, read_model_config, save_model
from gptkit.model.weights import WEIGHTS_FILE, gathered_state, load_weights, model_state, read_weights
from gptkit.reporting import NULL_REPORTER, Reporter, TaskHandle
from gptkit.runtime import keep_freed_memory, resolve_device, seed_everything
from gptkit.stage import StageResult, StageRun, check_inputs, check_out_dir, identity
from gptkit.train import checkpoint as ckpt
from gptkit.train import distributed as dist_utils
from gptkit.train.config import TrainConfig
from gptkit.train.distributed import DistInfo
from gptkit.train.metrics import METRICS, MetricsLog, plot_losses, read_jsonl
from gptkit.train.objective import DataSpec, LMObjective, Metrics, Objective, Setup, TrainModule
from gptkit.train.optim import build_optimizer, set_lr
from gptkit.train.schedule import lr_at


@dataclass
class TrainSummary(StageResult):
    """What a finished (or paused, see ``stop_after``) invocation of :func:`train` did."""

    run_dir: Path
    step: int  # optimizer steps completed in total
    steps: int  # steps of the whole run
    resumed_from: int | None  # step of the checkpoint this invocation started from
    final_loss: float | None  # training loss of the last step
    final_val_loss: float | None
    best_val_loss: float | None
    tokens: int  # tokens trained on (all processes, whole run)
    seconds: float  # wall time of this invocation
    tokens_per_s: float  # training throughput of this invocation (evaluation excluded)
    mfu: float | None  # model FLOPs utilisation (fraction of the device peak)
    grad_accum: int
    checkpoint: Path | None  # the latest checkpoint

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items() if k != "reused"}

    @classmethod
    def recorded(cls, data: dict[str, Any]) -> TrainSummary:
        """The summary a finished run wrote into its manifest, for a rerun that reuses it."""
        paths = {k: Path(data[k]) if data.get(k) else None for k in ("run_dir", "checkpoint")}
        return cls(**{**data, **paths}, reused=True)


#: Settings that never change what a run produces (where it runs, how fast, where it writes).
RUN_ONLY = ("out", "data", "threads", "device", "compile", "resume", "stop_after")


def train(config: TrainConfig, reporter: Reporter = NULL_REPORTER, objective: Objective | None = None) -> TrainSummary:
    """Train (or resume) the run described by ``config`` on ``objective`` (default: language
    modelling on ``config.data``); see the module docstring.

    A finished run of the same settings and data is left as it is and its summary returned."""
    objective = objective or LMObjective.from_config(config)
    check_inputs(objective.input_dirs())
    data = objective.data()
    run = StageRun(objective.stage, config.out, identity(to_dict(config), RUN_ONLY), [file_record(p) for p in data.inputs])
    check_out_dir(run.out, run.stage)
    if config.resume and (done := run.reuse()) is not None:
        return TrainSummary.recorded(done["summary"])
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device, "train.device")
    if device.type == "cpu":
        keep_freed_memory()
    info = dist_utils.init_distributed(config.distributed, device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    try:
        trainer = _Trainer(config, objective, data, info, device, reporter, run)  # checks the settings first
        if info.is_main:
            run.begin()
        return trainer.run()
    finally:
        dist_utils.shutdown(info)


@dataclass
class _RunState:
    """Where the run stands; updated as it goes."""

    step: int
    tokens: int  # tokens trained on, all processes, whole run
    resumed_from: int | None = None
    start_tokens: int = 0  # ``tokens`` when this invocation started
    best_val: float | None = None
    last_loss: float | None = None
    last_val: float | None = None
    checkpoint: Path | None = None


class _Trainer:
    def __init__(self, cfg: TrainConfig, objective: Objective, data: DataSpec, info: DistInfo,
                 device: torch.device, reporter: Reporter, stage: StageRun):  # fmt: skip
        self.cfg, self.objective, self.data, self.info = cfg, objective, data, info
        self.device, self.reporter, self.stage = device, reporter, stage
        self.run_dir = Path(cfg.out)
        init_model = self._load_init_model()
        self.model_config = self._model_config(init_model)
        self.block_size = self._block_size()
        self.grad_accum = self._grad_accum()
        objective.bind(Setup(self.model_config, self.block_size, cfg.micro_batch, cfg.eval_batches, info.rank,
                             info.world_size, cfg.seed, device, reporter))  # fmt: skip
        self.source = objective.train_source()
        self.steps = self._total_steps()
        self.stop_at = min(self.steps, cfg.stop_after) if cfg.stop_after is not None else self.steps
        self.fork_points = frozenset(cfg.checkpoint.at_steps)

        self.resume_dir = self._find_resume()
        self.resume_state = ckpt.read_state(self.resume_dir) if self.resume_dir else None
        if self.resume_state is not None:
            self._check_resume_state(self.resume_state)

        self.module = self._build_module(init_model)
        objective.attach(self.module)
        self.raw = self.module.gpt
        self.model = dist_utils.wrap_model(self.module, info, device)
        self.optimizer = build_optimizer(self.model, cfg.optim, device.type)
        if cfg.compile:
            self.model = torch.compile(self.model)
        self.dtype = torch.bfloat16 if cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda") else None
        self.tokenizer = self.data.tokenizer

    # --- setup helpers ---------------------------------------------------------------------

    def _load_init_model(self) -> GPT | None:
        if self.cfg.init_from is None:
            return None
        model, tok = load_model(self.cfg.init_from)
        self._check_tokenizer(getattr(tok, "hash", None), f"init_from model {self.cfg.init_from}")
        return model

    def _model_config(self, init_model: GPT | None) -> GPTConfig:
        m = self.cfg.model
        vocab = self.data.vocab_size
        if init_model is not None:
            base = init_model.config
            if base.vocab_size != vocab:
                raise InputError(f"model has vocab_size {base.vocab_size}, the token data {vocab}", self.cfg.init_from)
            return dataclasses.replace(base, dropout=base.dropout if m.dropout is None else m.dropout)
        overrides = {f.name: getattr(m, f.name) for f in dataclasses.fields(m) if f.name != "preset"}
        return preset(m.preset, vocab_size=vocab, **{k: v for k, v in overrides.items() if v is not None})

    def _block_size(self) -> int:
        block_size = self.cfg.block_size or self.model_config.block_size
        if block_size > self.model_config.block_size:
            raise ConfigError(
                f"train.block_size={block_size} is larger than the model's context "
                f"(block_size={self.model_config.block_size}); lower it or set train.model.block_size"
            )
        return block_size

    def _grad_accum(self) -> int:
        """Micro-batches per optimizer step, from ``batch_tokens`` or ``batch_size`` (else 1)."""
        cfg, world = self.cfg, self.info.world_size
        rows = cfg.micro_batch * world
        if cfg.batch_tokens is not None and cfg.batch_size is not None:
            raise ConfigError("set train.batch_tokens or train.batch_size, not both")
        if cfg.batch_tokens is not None:
            per_micro = rows * self.block_size
            if cfg.batch_tokens % per_micro:
                raise ConfigError(
                    f"train.batch_tokens={cfg.batch_tokens} is not a multiple of micro_batch × block_size × "
                    f"processes = {cfg.micro_batch} × {self.block_size} × {world} = {per_micro}"
                )
            return cfg.batch_tokens // per_micro
        if cfg.batch_size is not None:
            if cfg.batch_size % rows:
                raise ConfigError(f"train.batch_size={cfg.batch_size} is not a multiple of micro_batch × processes "
                                  f"= {cfg.micro_batch} × {world} = {rows}")  # fmt: skip
            return cfg.batch_size // rows
        return 1

    def _total_steps(self) -> int:
        """``train.steps``, or with ``train.epochs`` the steps that many passes over the data take."""
        if self.cfg.epochs is None:
            return self.cfg.steps
        rows_per_step = self.cfg.micro_batch * self.info.world_size * self.grad_accum
        return max(math.ceil(self.cfg.epochs * self.source.examples_per_epoch / rows_per_step), 1)

    def _check_tokenizer(self, saved_hash: str | None, what: str) -> None:
        data_hash = self.data.tokenizer_hash
        if saved_hash and data_hash and saved_hash != data_hash:
            raise InputError(
                f"token shards were made with another tokenizer than {what} "
                f"(tokenizer hash {data_hash} vs {saved_hash})",
                self.data.source,
            )

    def _find_resume(self) -> Path | None:
        """This run's latest checkpoint; without one, the checkpoint ``fork_from`` names (or None)."""
        if self.info.is_main:
            ckpt.remove_stale(self.run_dir)
        latest = ckpt.latest_checkpoint(self.run_dir)
        if latest is None:
            return self._fork_checkpoint()
        if not self.cfg.resume:
            raise UsageError(
                f"{self.run_dir} already holds checkpoints: resume it (train.resume=true) or choose another --out"
            )
        return latest

    def _fork_checkpoint(self) -> Path | None:
        """The checkpoint a branch continues: a checkpoint directory, or a run's latest one."""
        fork = self.cfg.fork_from
        if fork is None:
            return None
        if (fork / ckpt.STATE).is_file():
            return fork
        latest = ckpt.latest_checkpoint(fork)
        if latest is None:
            raise InputError("train.fork_from is neither a checkpoint nor a run with checkpoints", fork)
        return latest

    def _check_resume_state(self, state: dict[str, Any]) -> None:
        path = self.resume_dir / ckpt.STATE
        self._check_tokenizer(state.get("tokenizer_hash"), f"checkpoint {self.resume_dir.name}")
        if state.get("objective", self.objective.name) != self.objective.name:
            raise UsageError(f"{path}: checkpoint was trained with objective {state['objective']!r}, "
                             f"this run is {self.objective.name!r}")  # fmt: skip
        if state.get("world_size") != self.info.world_size:
            raise UsageError(
                f"{path}: checkpoint was written by {state.get('world_size')} processes, this run has "
                f"{self.info.world_size}; resume with the same number of processes"
            )
        for key in ("rng", "loader"):
            if not isinstance(state.get(key), list) or len(state[key]) != self.info.world_size:
                raise InputError(f"corrupt checkpoint state: '{key}' must hold one entry per process", path)
        if state["step"] > self.steps:
            raise UsageError(f"{path}: checkpoint is at step {state['step']}, beyond train.steps={self.steps}")

    def _build_module(self, init_model: GPT | None) -> TrainModule:
        """Body and heads with the same initial weights on every process, then init/resume weights."""
        torch.manual_seed(self.cfg.seed)
        gpt = GPT(self.model_config)
        if init_model is not None:
            gpt.load_state_dict(init_model.state_dict())
        module = TrainModule(gpt, self.objective.heads(), self.objective)
        if self.resume_dir is not None:
            saved = read_model_config(self.resume_dir)
            if saved != self.model_config:
                raise InputError(f"checkpoint is of a different architecture: {_config_diff(saved, self.model_config)}",
                                 self.resume_dir)  # fmt: skip
            weights = self.resume_dir / WEIGHTS_FILE
            load_weights(gpt, read_weights(weights), weights)
            self._load_heads(module)
        return module.to(self.device)

    def _load_heads(self, module: TrainModule) -> None:
        if not len(module.heads):
            return
        path = self.resume_dir / ckpt.HEADS
        try:
            module.heads.load_state_dict(read_weights(path))
        except RuntimeError as e:
            raise InputError(f"heads do not match the objective's: {str(e).splitlines()[0]}", path) from None

    def _restore(self, state: dict[str, Any]) -> None:
        """Optimizer, data source and RNG state of the checkpoint (the weights are already loaded)."""
        opt_state = ckpt.load_optimizer_state(self.resume_dir)
        try:
            if self.info.mode == "fsdp":
                from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

                set_optimizer_state_dict(self.model, self.optimizer, opt_state,
                                         options=StateDictOptions(full_state_dict=True))  # fmt: skip
            else:
                self.optimizer.load_state_dict(opt_state)
        except (ValueError, KeyError, RuntimeError) as e:
            raise InputError(f"optimizer state does not fit this model: {e}", self.resume_dir / ckpt.OPTIMIZER) from None
        try:
            self.source.load_state_dict(state["loader"][self.info.rank])
            ckpt.set_rng_state(state["rng"][self.info.rank])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"corrupt checkpoint state: bad loader or RNG state ({e!r})",
                             self.resume_dir / ckpt.STATE) from None  # fmt: skip

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> TrainSummary:
        started = time.perf_counter()
        run = self._start()
        metrics = self._open_run_dir(resumed=run.resumed_from is not None, step=run.step)
        val_batches = self.objective.val_batches() if self.cfg.eval_interval else []
        self.flops = self._flops()
        clock = _TrainClock(self.device)
        self._announce()
        with self.reporter.task("train", total=self.steps, unit="steps") as progress:
            progress.update(completed=run.step)
            clock.start()
            while run.step < self.stop_at:
                self._train_step(run, clock, progress, metrics)
                evaluate = bool(val_batches) and self._due(run.step, self.cfg.eval_interval, self.steps)
                periodic = self._due(run.step, self.cfg.checkpoint.interval) or run.step in self.fork_points
                if evaluate or periodic or run.step == self.stop_at:
                    clock.pause()  # evaluation and checkpoints are not training time
                    is_best = self._evaluate(run, val_batches, metrics) if evaluate else False
                    if periodic or run.step == self.stop_at or (is_best and self.cfg.checkpoint.keep_best):
                        run.checkpoint = self._save(run, is_best and self.cfg.checkpoint.keep_best)
                    clock.start()
            clock.pause()
        return self._finish(run, clock, metrics, time.perf_counter() - started)

    def _start(self) -> _RunState:
        """A fresh run state, or the checkpoint's with its optimizer, data and RNG state restored."""
        state = self.resume_state
        if state is None:
            seed_everything(self.cfg.seed + self.info.rank)  # dropout differs per process, init did not
            return _RunState(step=0, tokens=0)
        self._restore(state)
        step, tokens = state["step"], int(state.get("tokens", 0))
        done = " (already finished: raise train.steps to train longer)" if step >= self.steps else ""
        forked = not self.resume_dir.is_relative_to(self.run_dir)
        source = f"{self.resume_dir} (train.fork_from)" if forked else self.resume_dir.name
        self.reporter.log(f"resuming {self.run_dir} from step {step} of {source}{done}")
        return _RunState(step=step, tokens=tokens, resumed_from=step, start_tokens=tokens,
                         best_val=state.get("best_val_loss"), checkpoint=self.resume_dir)  # fmt: skip

    def _open_run_dir(self, resumed: bool, step: int) -> MetricsLog | None:
        """Create the run directory, write its config; the metrics log (main process only)."""
        if not self.info.is_main:
            return None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        dump_toml({"train": self.cfg}, self.run_dir / "config.toml")
        return MetricsLog(self.run_dir, resume_step=step if resumed else None)

    def _announce(self) -> None:
        cfg, info = self.cfg, self.info
        tokens = cfg.micro_batch * self.block_size * info.world_size * self.grad_accum
        self.reporter.log(
            f"training {self.raw.num_params() / 1e6:.2f}M parameters for {self.steps} steps × "
            f"{tokens:,} tokens (micro_batch {cfg.micro_batch} × block {self.block_size} × "
            f"{info.world_size} processes × {self.grad_accum} accumulation), on {self.device.type}"
            + (f" ({info.mode})" if info.active else "")
            + (f", objective {self.objective.name}" if self.objective.name != "lm" else "")
        )

    @staticmethod
    def _due(step: int, interval: int, last: int | None = None) -> bool:
        return bool(interval) and (step % interval == 0 or step == last)

    def _train_step(self, run: _RunState, clock: _TrainClock, progress: TaskHandle, metrics: MetricsLog | None):
        """One optimizer step; every ``log_interval`` steps (and the last) a metrics record."""
        lr = lr_at(run.step, self.cfg.optim.lr, self.steps, self.cfg.schedule)
        loss, grad_norm, extra, tokens = self._step(lr)
        run.step += 1
        run.tokens += tokens
        clock.tokens += tokens
        if not (run.step % self.cfg.log_interval == 0 or run.step == self.stop_at):
            progress.update(completed=run.step)
            return
        clock.pause()
        run.last_loss = dist_utils.all_reduce_mean(loss, self.info)
        tokens_per_s = clock.window_rate()
        mfu = flops_mfu(tokens_per_s, *self.flops, self.info.world_size)
        record = {"step": run.step, "loss": run.last_loss, "lr": lr, "grad_norm": float(grad_norm),
                  "tokens_per_s": tokens_per_s, "mfu": mfu, "tokens": run.tokens,
                  **{k: dist_utils.all_reduce_mean(v, self.info) for k, v in extra.items()}}  # fmt: skip
        if metrics:
            metrics.log(record)
        progress.update(completed=run.step, loss=f"{run.last_loss:.4f}", lr=f"{lr:.2e}",
                        **{"tok/s": f"{tokens_per_s:,.0f}"}, mfu=_pct(mfu))  # fmt: skip
        clock.start()

    def _step(self, lr: float) -> tuple[torch.Tensor, torch.Tensor, Metrics, int]:
        """One optimizer step over ``grad_accum`` micro-batches: (mean loss, grad norm, mean
        metrics) as tensors, so the host does not wait for the device on every step, and the
        tokens trained on by all processes."""
        set_lr(self.optimizer, lr)
        total = torch.zeros((), device=self.device)
        sums: Metrics = {}
        tokens = 0
        for micro in range(self.grad_accum):
            batch = self.source.next_batch()
            tokens += self.objective.batch_tokens(batch) * self.info.world_size
            with dist_utils.grad_sync(self.model, self.info, sync=micro == self.grad_accum - 1), self._autocast():
                loss, metrics = self.model(batch)
                (loss / self.grad_accum).backward()
            total += loss.detach()
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0) + value.detach().float()
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2 DTensor
            grad_norm = grad_norm.full_tensor()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / self.grad_accum, grad_norm, {k: v / self.grad_accum for k, v in sums.items()}, tokens

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _flops(self) -> tuple[float, Any]:
        """(training FLOPs per token, peak FLOP/s of one device or None if unknown)."""
        per_token = flops_per_token(self.model_config, self.block_size, self.objective.runs_output_layer())
        return per_token, device_peak(self.device, self.dtype or torch.float32)

    # --- evaluation ------------------------------------------------------------------------

    def _evaluate(self, run: _RunState, val_batches: list[Any], metrics: MetricsLog | None) -> bool:
        """Validation loss and metrics, the objective's hook, samples; True if the loss is the best so far."""
        val_loss, val_metrics = self._validation(val_batches)
        with torch.no_grad():
            self.model.eval()
            extra = self.objective.evaluate(self.module, run.step)
            self.model.train()
        run.last_val = val_loss
        is_best = run.best_val is None or val_loss < run.best_val
        run.best_val = val_loss if is_best else run.best_val
        samples = self._samples(run.step)
        if metrics:
            metrics.log({"step": run.step, "val_loss": val_loss, **val_metrics, **extra})
            metrics.log_samples(run.step, samples)
        shown = "".join(f", {k} {v:.4g}" for k, v in {**val_metrics, **extra}.items())
        self.reporter.log(f"step {run.step}: val loss {val_loss:.4f}{shown}" + (" (best)" if is_best else "")
                          + "".join(f"\n  {p!r} → {t!r}" for p, t in samples[:1]))  # fmt: skip
        return is_best

    @torch.no_grad()
    def _validation(self, batches: list[Any]) -> tuple[float, dict[str, float]]:
        """Mean loss and metrics (``val_<name>``) over the fixed validation batches of all processes."""
        self.model.eval()
        total, sums = 0.0, {}
        for batch in batches:
            with self._autocast():
                loss, metrics = self.model(batch)
            total += float(loss)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value)
        self.model.train()
        mean = {f"val_{k}": dist_utils.all_reduce_mean(v / len(batches), self.info) for k, v in sums.items()}
        return dist_utils.all_reduce_mean(total / len(batches), self.info), mean

    def _samples(self, step: int) -> list[tuple[str, str]]:
        """Texts sampled from the fixed prompts (own seeded generator: training RNG untouched)."""
        s = self.cfg.samples
        if self.tokenizer is None or not s.prompts or not (self.info.is_main or self.info.mode == "fsdp"):
            return []  # under FSDP every process takes part in each forward
        tok = self.tokenizer
        requests = [Request(tok.encode(p) if p else [tok.eot_id], s.max_tokens, stop_ids=[tok.eot_id])
                    for p in s.prompts]  # fmt: skip
        sampling = SamplingConfig(temperature=s.temperature, top_k=s.top_k, seed=self.cfg.seed + step)
        done = generate(self.raw, requests, sampling, batch_size=len(requests))  # prompt i: seed + step + i
        self.raw.train()
        return [(p, tok.decode(c.tokens)) for p, c in zip(s.prompts, done, strict=True)]

    # --- checkpoints -----------------------------------------------------------------------

    def _save(self, run: _RunState, is_best: bool) -> Path:
        """Write checkpoint ``run.step`` (a collective under FSDP: every process calls it)."""
        info = self.info
        weights = model_state(self.raw)
        heads = gathered_state(self.module.heads) if len(self.module.heads) else None
        opt_state = self._optimizer_state()
        rngs = dist_utils.gather_objects(ckpt.rng_state(), info)
        sources = dist_utils.gather_objects(self.source.state_dict(), info)
        if info.is_main:
            state = {
                "objective": self.objective.name, "world_size": info.world_size, "distributed": info.mode,
                "grad_accum": self.grad_accum, "tokens": run.tokens, "val_loss": run.last_val,
                "best_val_loss": run.best_val, "tokenizer_hash": self.data.tokenizer_hash,
                "loader": sources, "rng": rngs, "config": to_dict(self.cfg),
            }  # fmt: skip

            def write_model(d: Path) -> None:
                save_model(d, self.raw, self.tokenizer, state_dict=weights)
                if heads is not None:
                    save_file(heads, str(d / ckpt.HEADS), metadata={"format": "pt"})

            ckpt.save_checkpoint(self.run_dir, run.step, write_model, opt_state, state,
                                 self.cfg.checkpoint.keep_last, is_best, self.fork_points)  # fmt: skip
        dist_utils.barrier(info)
        return self.run_dir / ckpt.CHECKPOINTS / ckpt.checkpoint_name(run.step)

    def _optimizer_state(self) -> dict:
        if self.info.mode == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            return get_optimizer_state_dict(self.model, self.optimizer,
                                            options=StateDictOptions(full_state_dict=True, cpu_offload=True))  # fmt: skip
        return self.optimizer.state_dict()

    def _finish(self, run: _RunState, clock: _TrainClock, metrics: MetricsLog | None, seconds: float) -> TrainSummary:
        rate = (run.tokens - run.start_tokens) / clock.total if clock.total else 0.0
        summary = TrainSummary(
            run_dir=self.run_dir, step=run.step, steps=self.steps, resumed_from=run.resumed_from,
            final_loss=run.last_loss, final_val_loss=run.last_val, best_val_loss=run.best_val,
            tokens=run.tokens, seconds=seconds, tokens_per_s=rate,
            mfu=flops_mfu(rate, *self.flops, self.info.world_size) if clock.total else None,
            grad_accum=self.grad_accum, checkpoint=run.checkpoint,
        )  # fmt: skip
        if metrics:
            metrics.close()
            plot_losses(self.run_dir)
            if run.step == self.steps:
                self._write_manifest(summary)
        return summary

    def _write_manifest(self, summary: TrainSummary) -> None:
        if summary.resumed_from == summary.step:  # killed after its last checkpoint: nothing trained now
            summary = _with_logged_figures(summary, self.run_dir)
        outputs = [file_record(p, self.run_dir) for p in sorted(summary.checkpoint.rglob("*")) if p.is_file()]
        self.stage.finish(Manifest(
            stage=self.stage.stage,
            config=to_dict(self.cfg),
            inputs=self.stage.inputs,
            outputs=outputs,
            counts={"steps": summary.step, "tokens": summary.tokens, "parameters": self.raw.num_params(False)},
            timings={"seconds": summary.seconds},
            extra={"summary": summary.to_json(), "model": self.model_config.to_dict(),
                   "objective": self.objective.name},  # fmt: skip
        ))  # fmt: skip


def _with_logged_figures(summary: TrainSummary, run_dir: Path) -> TrainSummary:
    """``summary`` with the last loss, validation loss and speed that ``metrics.jsonl`` recorded:
    the figures of the invocation that trained, for a manifest written by one that had nothing left."""
    records = read_jsonl(run_dir / METRICS)

    def last(key: str) -> Any:
        return next((r[key] for r in reversed(records) if r.get(key) is not None), None)

    return dataclasses.replace(summary, final_loss=last("loss"), final_val_loss=last("val_loss"),
                               tokens_per_s=last("tokens_per_s") or 0.0, mfu=last("mfu"))  # fmt: skip


class _TrainClock:
    """Seconds and tokens of training, with evaluation and checkpoint pauses left out."""

    def __init__(self, device: torch.device):
        self.device = device
        self.total = 0.0  # seconds of training in this invocation
        self.window = 0.0  # seconds since the last window_rate()
        self.tokens = 0  # tokens since the last window_rate()
        self._since: float | None = None

    def start(self) -> None:
        self._since = time.perf_counter()

    def pause(self) -> None:
        if self._since is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - self._since
        self.total += elapsed
        self.window += elapsed
        self._since = None

    def window_rate(self) -> float:
        """Tokens per second since the previous call."""
        rate = self.tokens / self.window if self.window else 0.0
        self.window, self.tokens = 0.0, 0
        return rate


def _config_diff(saved, current) -> str:
    diffs = [f"{f.name} {getattr(saved, f.name)!r} (checkpoint) vs {getattr(current, f.name)!r} (config)"
             for f in dataclasses.fields(saved) if getattr(saved, f.name) != getattr(current, f.name)]  # fmt: skip
    return ", ".join(diffs)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
