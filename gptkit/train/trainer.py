"""The training loop of ``gptkit train``: ``train(config, reporter) -> TrainSummary``.

One optimizer step = ``grad_accum`` micro-batches on every process (gradients synchronised on the
last one only), gradient clipping, then AdamW with the step's learning rate. Every
``eval_interval`` steps the loss on fixed validation batches is measured and a few samples are
drawn from fixed prompts. Checkpoints hold everything needed to continue bit for bit: weights,
optimizer, loader position and every RNG of every process.

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
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gptkit.config import dump_toml, to_dict
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.io.manifest import MANIFEST, Manifest, file_record
from gptkit.model.flops import device_peak, flops_per_token
from gptkit.model.flops import mfu as flops_mfu
from gptkit.model.generate import SamplingConfig, generate_text
from gptkit.model.gpt import GPT, GPTConfig, doc_ids_from_eot, preset
from gptkit.model.store import load_model, read_model_config, save_model
from gptkit.model.weights import WEIGHTS_FILE, load_weights, model_state, read_weights, unwrap
from gptkit.pack.loader import TokenLoader, shard_paths
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun, check_inputs, check_out_dir, identity
from gptkit.train import checkpoint as ckpt
from gptkit.train import distributed as dist_utils
from gptkit.train.config import TrainConfig
from gptkit.train.distributed import DistInfo
from gptkit.train.metrics import METRICS, MetricsLog, plot_losses, read_jsonl
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


def train(config: TrainConfig, reporter: Reporter = NULL_REPORTER) -> TrainSummary:
    """Train (or resume) the run described by ``config``; see the module docstring.

    A finished run of the same settings and data is left as it is and its summary returned."""
    if config.data is None:
        raise ConfigError("train.data is not set: give --data TOKEN_DIR or set data in the recipe's [train] table")
    check_inputs([config.data])
    data_manifest = Path(config.data) / MANIFEST
    inputs = [file_record(data_manifest)] if data_manifest.is_file() else []
    run = StageRun("train", config.out, identity(to_dict(config), RUN_ONLY), inputs)
    check_out_dir(run.out, run.stage)
    if config.resume and (done := run.reuse()) is not None:
        return TrainSummary.recorded(done["summary"])
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    info = dist_utils.init_distributed(config.distributed, device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    try:
        trainer = _Trainer(config, info, device, reporter, run)  # checks the settings first
        if info.is_main:
            run.begin()
        return trainer.run()
    finally:
        dist_utils.shutdown(info)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("train.device=cuda but no CUDA device is available (use device=cpu or auto)")
    return torch.device(name)


class _Trainer:
    def __init__(self, cfg: TrainConfig, info: DistInfo, device: torch.device, reporter: Reporter, stage: StageRun):
        self.cfg, self.info, self.device, self.reporter, self.stage = cfg, info, device, reporter, stage
        self.run_dir = Path(cfg.out)
        self.data_dir = Path(cfg.data)

        # --- data and model shape ---
        probe = TokenLoader(self.data_dir, "train", block_size=1, batch_size=1)
        self.meta = probe.meta
        if self.meta.get("vocab_size") is None:
            raise InputError("token directory does not record the vocabulary size (manifest.json)", self.data_dir)
        init_model = None
        if cfg.init_from is not None:
            init_model, init_tok = load_model(cfg.init_from)
            self._check_tokenizer(getattr(init_tok, "hash", None), f"init_from model {cfg.init_from}")
        self.model_config = self._model_config(init_model)
        self.block_size = cfg.block_size or self.model_config.block_size
        if self.block_size > self.model_config.block_size:
            raise ConfigError(
                f"train.block_size={self.block_size} is larger than the model's context "
                f"(block_size={self.model_config.block_size}); lower it or set train.model.block_size"
            )
        per_micro = cfg.micro_batch * self.block_size * info.world_size
        if cfg.batch_tokens is None:
            self.grad_accum = 1
        elif cfg.batch_tokens % per_micro:
            raise ConfigError(
                f"train.batch_tokens={cfg.batch_tokens} is not a multiple of micro_batch × block_size × processes "
                f"= {cfg.micro_batch} × {self.block_size} × {info.world_size} = {per_micro}"
            )
        else:
            self.grad_accum = cfg.batch_tokens // per_micro
        self.tokens_per_step = per_micro * self.grad_accum
        self.loader = TokenLoader(self.data_dir, "train", self.block_size, cfg.micro_batch,
                                  info.rank, info.world_size, cfg.seed, cfg.sampler)  # fmt: skip

        # --- resume point ---
        self.resume_dir = self._find_resume()
        self.resume_state = ckpt.read_state(self.resume_dir) if self.resume_dir else None
        if self.resume_state is not None:
            self._check_resume_state(self.resume_state)

        # --- model (same initial weights on every process) ---
        torch.manual_seed(cfg.seed)
        raw = GPT(self.model_config)
        if init_model is not None:
            raw.load_state_dict(init_model.state_dict())
            del init_model
        if self.resume_dir is not None:
            saved = read_model_config(self.resume_dir)
            if saved != self.model_config:
                raise InputError(f"checkpoint is of a different architecture: {_config_diff(saved, self.model_config)}",
                                 self.resume_dir)  # fmt: skip
            weights = self.resume_dir / WEIGHTS_FILE
            load_weights(raw, read_weights(weights), weights)
        raw.to(device)
        self.raw = raw
        self.model = dist_utils.wrap_model(raw, info, device)
        self.optimizer = build_optimizer(self.model, cfg.optim, device.type)
        if cfg.compile:
            self.model = torch.compile(self.model)
        self.dtype = torch.bfloat16 if cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda") else None
        self.tokenizer = self._tokenizer()

    # --- setup helpers ---------------------------------------------------------------------

    def _model_config(self, init_model: GPT | None) -> GPTConfig:
        m = self.cfg.model
        vocab = int(self.meta["vocab_size"])
        if init_model is not None:
            base = init_model.config
            if base.vocab_size != vocab:
                raise InputError(f"model has vocab_size {base.vocab_size}, the token data {vocab}", self.cfg.init_from)
            return dataclasses.replace(base, dropout=base.dropout if m.dropout is None else m.dropout)
        overrides = {f.name: getattr(m, f.name) for f in dataclasses.fields(m) if f.name != "preset"}
        return preset(m.preset, vocab_size=vocab, **{k: v for k, v in overrides.items() if v is not None})

    def _check_tokenizer(self, saved_hash: str | None, what: str) -> None:
        data_hash = self.meta.get("tokenizer_hash")
        if saved_hash and data_hash and saved_hash != data_hash:
            raise InputError(
                f"token shards were made with another tokenizer than {what} "
                f"(tokenizer hash {data_hash} vs {saved_hash})",
                self.data_dir,
            )

    def _find_resume(self) -> Path | None:
        if self.info.is_main:
            ckpt.remove_stale(self.run_dir)
        latest = ckpt.latest_checkpoint(self.run_dir)
        if latest is None:
            return None
        if not self.cfg.resume:
            raise UsageError(
                f"{self.run_dir} already holds checkpoints: resume it (train.resume=true) or choose another --out"
            )
        return latest

    def _check_resume_state(self, state: dict[str, Any]) -> None:
        path = self.resume_dir / ckpt.STATE
        self._check_tokenizer(state.get("tokenizer_hash"), f"checkpoint {self.resume_dir.name}")
        if state.get("world_size") != self.info.world_size:
            raise UsageError(
                f"{path}: checkpoint was written by {state.get('world_size')} processes, this run has "
                f"{self.info.world_size}; resume with the same number of processes"
            )
        for key in ("rng", "loader"):
            if not isinstance(state.get(key), list) or len(state[key]) != self.info.world_size:
                raise InputError(f"corrupt checkpoint state: '{key}' must hold one entry per process", path)
        if state["step"] > self.cfg.steps:
            raise UsageError(f"{path}: checkpoint is at step {state['step']}, beyond train.steps={self.cfg.steps}")

    def _tokenizer(self):
        tok_dir = self.data_dir / "tokenizer"
        if not tok_dir.is_dir():
            return None
        from gptkit.tokenizer import load_tokenizer

        return load_tokenizer(tok_dir)

    def _restore(self, state: dict[str, Any]) -> None:
        """Optimizer, loader and RNG state of the checkpoint (the weights are already loaded)."""
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
            self.loader.load_state_dict(state["loader"][self.info.rank])
            ckpt.set_rng_state(state["rng"][self.info.rank])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"corrupt checkpoint state: bad loader or RNG state ({e!r})",
                             self.resume_dir / ckpt.STATE) from None  # fmt: skip

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> TrainSummary:
        cfg, info = self.cfg, self.info
        started = time.perf_counter()
        state = self.resume_state
        step = 0
        best_val = None
        if state is not None:
            self._restore(state)
            step = state["step"]
            best_val = state.get("best_val_loss")
            done = " (already finished: raise train.steps to train longer)" if step >= cfg.steps else ""
            self.reporter.log(f"resuming {self.run_dir} from step {step} ({self.resume_dir.name}){done}")
        else:
            seed_everything(cfg.seed + info.rank)  # dropout differs per process, init did not
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_toml({"train": cfg}, self.run_dir / "config.toml")
        metrics = MetricsLog(self.run_dir, resume_step=step if state is not None else None) if info.is_main else None
        flops_per_token, peak = self._flops()
        stop_at = min(cfg.steps, cfg.stop_after) if cfg.stop_after is not None else cfg.steps

        val_batches = self._val_batches()
        last_loss = last_val = None
        last_ckpt = self.resume_dir
        clock = _TrainClock(self.device)
        mfu = None
        self.reporter.log(
            f"training {self.raw.num_params() / 1e6:.2f}M parameters for {cfg.steps} steps × "
            f"{self.tokens_per_step:,} tokens (micro_batch {cfg.micro_batch} × block {self.block_size} × "
            f"{info.world_size} processes × {self.grad_accum} accumulation), on {self.device.type}"
            + (f" ({info.mode})" if info.active else "")
        )
        with self.reporter.task("train", total=cfg.steps) as progress:
            progress.update(completed=step)
            clock.start()
            while step < stop_at:
                lr = lr_at(step, cfg.optim.lr, cfg.steps, cfg.schedule)
                loss, grad_norm = self._step(lr)
                step += 1
                clock.tokens += self.tokens_per_step

                if step % cfg.log_interval == 0 or step == stop_at:
                    clock.pause()
                    last_loss = dist_utils.all_reduce_mean(loss, info)
                    tokens_per_s = clock.window_rate()
                    mfu = flops_mfu(tokens_per_s, flops_per_token, peak, info.world_size)
                    record = {"step": step, "loss": last_loss, "lr": lr, "grad_norm": float(grad_norm),
                              "tokens_per_s": tokens_per_s, "mfu": mfu, "tokens": step * self.tokens_per_step}  # fmt: skip
                    if metrics:
                        metrics.log(record)
                    progress.update(completed=step, loss=f"{last_loss:.4f}", lr=f"{lr:.2e}",
                                    tok_s=f"{tokens_per_s:,.0f}", mfu=_pct(mfu))  # fmt: skip
                    clock.start()
                else:
                    progress.update(completed=step)

                is_best = False
                evaluate = cfg.eval_interval and val_batches and (step % cfg.eval_interval == 0 or step == cfg.steps)
                periodic = cfg.checkpoint.interval and step % cfg.checkpoint.interval == 0
                if not (evaluate or periodic or step == stop_at):
                    continue
                clock.pause()  # evaluation and checkpoints are not training time
                if evaluate:
                    last_val = self._evaluate(val_batches)
                    is_best = best_val is None or last_val < best_val
                    best_val = last_val if is_best else best_val
                    samples = self._samples(step)
                    if metrics:
                        metrics.log({"step": step, "val_loss": last_val})
                        metrics.log_samples(step, samples)
                    self.reporter.log(f"step {step}: val loss {last_val:.4f}" + (" (best)" if is_best else "")
                                      + "".join(f"\n  {p!r} → {t!r}" for p, t in samples[:1]))  # fmt: skip
                if periodic or step == stop_at or (is_best and cfg.checkpoint.keep_best):
                    last_ckpt = self._save(step, best_val, last_val, is_best and cfg.checkpoint.keep_best)
                clock.start()
            clock.pause()

        seconds = time.perf_counter() - started
        run_tokens = (step - (state["step"] if state else 0)) * self.tokens_per_step
        summary = TrainSummary(
            run_dir=self.run_dir, step=step, steps=cfg.steps, resumed_from=state["step"] if state else None,
            final_loss=last_loss, final_val_loss=last_val, best_val_loss=best_val,
            tokens=step * self.tokens_per_step, seconds=seconds,
            tokens_per_s=run_tokens / clock.total if clock.total else 0.0,
            mfu=flops_mfu(run_tokens / clock.total, flops_per_token, peak, info.world_size) if clock.total else None,
            grad_accum=self.grad_accum, checkpoint=last_ckpt,
        )  # fmt: skip
        if metrics:
            metrics.close()
            plot_losses(self.run_dir)
            if step == cfg.steps:
                self._write_manifest(summary)
        return summary

    def _step(self, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step over ``grad_accum`` micro-batches; returns (mean loss, grad norm) as
        tensors, so the host does not wait for the device on every step."""
        set_lr(self.optimizer, lr)
        total = torch.zeros((), device=self.device)
        for micro in range(self.grad_accum):
            x, y = self._batch()
            last = micro == self.grad_accum - 1
            with dist_utils.grad_sync(self.model, self.info, sync=last), self._autocast():
                _, loss = self._forward(x, y)
                (loss / self.grad_accum).backward()
            total += loss.detach()
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2 DTensor
            grad_norm = grad_norm.full_tensor()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / self.grad_accum, grad_norm

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.loader.next_batch()
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        if self.device.type == "cuda":
            return x.pin_memory().to(self.device, non_blocking=True), y.pin_memory().to(self.device, non_blocking=True)
        return x, y

    def _forward(self, x: torch.Tensor, y: torch.Tensor):
        if self.cfg.doc_mask:
            return self.model(x, y, doc_ids=doc_ids_from_eot(x, int(self.meta["eot_id"])))
        return self.model(x, y)

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    # --- evaluation ------------------------------------------------------------------------

    def _val_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Fixed validation micro-batches (the first ``eval_batches`` of the val split, per process)."""
        if not self.cfg.eval_interval:
            return []
        if not shard_paths(self.data_dir, "val"):
            self.reporter.warn(f"{self.data_dir} has no 'val_*.bin' shards: no validation loss")
            return []
        try:
            val = TokenLoader(self.data_dir, "val", self.block_size, self.cfg.micro_batch,
                              self.info.rank, self.info.world_size, self.cfg.seed)  # fmt: skip
        except InputError as e:
            self.reporter.warn(f"no validation loss: {e}")
            return []
        n = min(self.cfg.eval_batches, max(val.windows_per_epoch // (self.cfg.micro_batch * self.info.world_size), 1))
        batches = []
        for _ in range(n):
            x, y = val.next_batch()
            batches.append((torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)))
        return batches

    @torch.no_grad()
    def _evaluate(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
        self.model.eval()
        total = 0.0
        for x, y in batches:
            with self._autocast():
                _, loss = self._forward(x, y)
            total += float(loss)
        self.model.train()
        return dist_utils.all_reduce_mean(total / len(batches), self.info)

    def _samples(self, step: int) -> list[tuple[str, str]]:
        """Texts sampled from the fixed prompts (own seeded generator: training RNG untouched)."""
        s = self.cfg.samples
        if self.tokenizer is None or not s.prompts or not (self.info.is_main or self.info.mode == "fsdp"):
            return []  # under FSDP every process takes part in each forward
        model = unwrap(self.model)
        out = []
        for i, prompt in enumerate(s.prompts):
            sampling = SamplingConfig(max_tokens=s.max_tokens, temperature=s.temperature, top_k=s.top_k,
                                      seed=self.cfg.seed + step + i)  # fmt: skip
            out.append((prompt, "".join(generate_text(model, self.tokenizer, prompt, sampling))))
        model.train()
        return out

    def _flops(self):
        """(training FLOPs per token, peak FLOP/s of one device or None if unknown)."""
        return flops_per_token(self.model_config, self.block_size), device_peak(self.device, self.dtype or torch.float32)

    # --- checkpoints -----------------------------------------------------------------------

    def _save(self, step: int, best_val: float | None, val: float | None, is_best: bool) -> Path:
        """Write checkpoint ``step`` (a collective under FSDP: every process calls it)."""
        info = self.info
        weights = model_state(self.model)
        if info.mode == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            opt_state = get_optimizer_state_dict(self.model, self.optimizer,
                                                 options=StateDictOptions(full_state_dict=True, cpu_offload=True))  # fmt: skip
        else:
            opt_state = self.optimizer.state_dict()
        rngs = dist_utils.gather_objects(ckpt.rng_state(), info)
        loaders = dist_utils.gather_objects(self.loader.state_dict(), info)
        if info.is_main:
            state = {
                "world_size": info.world_size, "distributed": info.mode, "grad_accum": self.grad_accum,
                "tokens": step * self.tokens_per_step, "val_loss": val, "best_val_loss": best_val,
                "tokenizer_hash": self.meta.get("tokenizer_hash"), "loader": loaders, "rng": rngs,
                "config": to_dict(self.cfg),
            }  # fmt: skip
            ckpt.save_checkpoint(
                self.run_dir, step, lambda d: save_model(d, self.raw, self.tokenizer, state_dict=weights),
                opt_state, state, self.cfg.checkpoint.keep_last, is_best,
            )  # fmt: skip
        dist_utils.barrier(info)
        return self.run_dir / ckpt.CHECKPOINTS / ckpt.checkpoint_name(step)

    def _write_manifest(self, summary: TrainSummary) -> None:
        if summary.resumed_from == summary.step:  # killed after its last checkpoint: nothing trained now
            summary = _with_logged_figures(summary, self.run_dir)
        outputs = [file_record(p, self.run_dir) for p in sorted(summary.checkpoint.rglob("*")) if p.is_file()]
        self.stage.finish(Manifest(
            stage="train",
            config=to_dict(self.cfg),
            inputs=self.stage.inputs,
            outputs=outputs,
            counts={"steps": summary.step, "tokens": summary.tokens, "parameters": self.raw.num_params(False)},
            timings={"seconds": summary.seconds},
            extra={"summary": summary.to_json(), "model": self.model_config.to_dict()},
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


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all of which checkpoints save)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _config_diff(saved, current) -> str:
    diffs = [f"{f.name} {getattr(saved, f.name)!r} (checkpoint) vs {getattr(current, f.name)!r} (config)"
             for f in dataclasses.fields(saved) if getattr(saved, f.name) != getattr(current, f.name)]  # fmt: skip
    return ", ".join(diffs)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
