"""Training metrics: ``metrics.jsonl`` (one JSON object per line), TensorBoard, ``loss.png``.

Every record has a ``step``; training records carry ``loss``, ``lr``, ``grad_norm``, ``tokens_per_s``,
``mfu``; evaluation records carry ``val_loss``. A resumed run first drops the records of steps after
its checkpoint, so the file always describes one consistent run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptkit.io.atomic import atomic_path, atomic_write_text

METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
LOSS_PLOT = "loss.png"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; a torn last line (killed writer) is ignored."""
    if not Path(path).is_file():
        return []
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_after(path: Path, step: int) -> None:
    """Keep only records with ``step <= step`` (rewritten atomically)."""
    if not Path(path).is_file():
        return
    kept = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


class MetricsLog:
    """Appends records to ``RUN/metrics.jsonl`` and, if installed, TensorBoard (``RUN/tensorboard``)."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = Path(run_dir) / METRICS
        self.samples_path = Path(run_dir) / SAMPLES
        if resume_step is None:
            self.path.unlink(missing_ok=True)
            self.samples_path.unlink(missing_ok=True)
        else:
            truncate_after(self.path, resume_step)
            truncate_after(self.samples_path, resume_step)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._tb = _tensorboard_writer(Path(run_dir) / "tensorboard", resume_step) if tensorboard else None

    def log(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float):
                    self._tb.add_scalar(key, value, record["step"])

    def log_samples(self, step: int, samples: list[tuple[str, str]]) -> None:
        with self.samples_path.open("a", encoding="utf-8") as f:
            for prompt, text in samples:
                f.write(json.dumps({"step": step, "prompt": prompt, "text": text}) + "\n")

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _tensorboard_writer(log_dir: Path, resume_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(log_dir), purge_step=None if resume_step is None else resume_step + 1)


def plot_losses(run_dir: Path) -> Path | None:
    """Draw train and validation loss against step into ``RUN/loss.png``; None if nothing logged."""
    records = read_jsonl(Path(run_dir) / METRICS)
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    if not train and not val:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # no pyplot: no global backend state
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if train:
        ax.plot(*zip(*train, strict=True), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val, strict=True), label="validation", marker="o", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(run_dir) / LOSS_PLOT
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
