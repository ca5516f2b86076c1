"""Configuration of ``gptkit eval`` (the ``[eval]`` table of a recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

#: ``--shots`` values: zero-shot, one-shot, few-shot (K demos, per task default or ``fewshot_k``).
SHOTS = ("0", "1", "few")


@dataclass
class LambadaConfig:
    #: OpenAI's ``lambada_test.jsonl`` (.gz allowed); default: DATA_DIR/lambada/lambada_test.jsonl,
    #: else the copy bundled with gptkit.
    file: Path | None = None
    #: the original release's ``lambada_test_plain_text.txt`` for ``lambada_standard``;
    #: default: DATA_DIR/lambada/lambada_test_plain_text.txt.
    standard_file: Path | None = None
    #: "plain" = lm-eval's ``lambada_openai`` prompt, "cloze" = GPT-3's "Fill in blank:" format;
    #: "auto" = plain for 0-shot, cloze for 1-shot and few-shot (the GPT-3 paper's setting).
    format: Literal["auto", "plain", "cloze"] = "auto"
    #: demos per prompt for ``--shots few`` (GPT-3: 15).
    fewshot_k: int = 15


@dataclass
class CoqaConfig:
    #: ``coqa-dev-v1.0.json``; default: DATA_DIR/coqa/coqa-dev-v1.0.json.
    dev_file: Path | None = None
    #: ``coqa-train-v1.0.json`` to draw demos from; default: DATA_DIR/coqa/coqa-train-v1.0.json
    #: when present, else other dev stories (never the evaluated story).
    train_file: Path | None = None
    #: "all" = every turn of every story is a question (GPT-2/GPT-3 setting);
    #: "last" = only each story's last turn (lm-eval's ``coqa``).
    turns: Literal["all", "last"] = "all"
    #: demos per prompt for ``--shots few`` (GPT-3: 5).
    fewshot_k: int = 5
    #: longest generated answer, in tokens (answers are short; the answer's first line is scored).
    max_gen_toks: int = 32


@dataclass
class RewardConfig:
    """Scoring sampled replies with a reward model instead of running lm-eval tasks."""

    #: a ``gptkit rm train`` run (or "regex:PATTERN": reward = matches in the reply); when set,
    #: ``gptkit eval`` samples replies to held-out prompts and scores them with it.
    model: str | None = None
    #: prompts: a ``gptkit data prefs`` or ``data chat`` output.
    prompts: Path | None = None
    #: the SFT run: the KL reference and the replies to beat (win rate).
    sft: Path | None = None
    #: which split's prompts: "val" (held out) or "train".
    split: Literal["val", "train"] = "val"
    max_tokens: int = 53
    temperature: float = 0.7


@dataclass
class EvalConfig:
    #: a gptkit model, checkpoint or training-run directory, or a transformers GPT-2 directory.
    model: Path | None = None
    #: output directory; default MODEL/eval/<shots>shot.
    out: Path | None = None
    #: gptkit's or lm-eval's task names; empty: every gptkit task whose data is present (the
    #: others are skipped with the reason).
    tasks: list[str] = field(default_factory=list)
    #: 0, 1 or "few" (stored as the string "0", "1" or "few").
    shots: int | str = "0"
    #: demos for ``--shots few``, overriding each task's default (LAMBADA 15, CoQA 5).
    fewshot_k: int | None = None
    #: evaluate only the first N documents of each task.
    limit: int | None = None
    batch_size: int = 16
    #: seed of the demo sampler (and of Python/numpy/torch).
    seed: int = 1234
    #: bootstrap resamples for standard errors (0: none).
    bootstrap_iters: int = 1000
    #: folder holding lambada/ and coqa/ data files.
    data_dir: Path | None = None
    #: folders of lm-eval task YAMLs (lm-eval's ``--include_path``); their tasks can be named in
    #: ``tasks`` and read local files (``dataset_path: json`` + ``dataset_kwargs.data_files``).
    include_path: list[Path] = field(default_factory=list)
    #: cache model answers per checkpoint under OUT/cache/<model hash>.
    cache: bool = True
    device: str = "cpu"
    #: which checkpoint of a training run: "latest" or "best".
    checkpoint: Literal["latest", "best"] = "latest"
    #: torch threads (0: torch's default).
    threads: int = 0
    #: render prompts through the model's chat template (lm-eval's ``--apply_chat_template``);
    #: the model must carry one (``gptkit sft``).
    chat_template: bool = False
    #: a system message before every prompt (lm-eval's ``--system_instruction``).
    system_instruction: str | None = None
    #: with a chat template, demos as user/assistant turns (True, lm-eval's default) or all in the
    #: first user turn (lm-eval's ``--fewshot_as_multiturn false``).
    fewshot_as_multiturn: bool = True
    lambada: LambadaConfig = field(default_factory=LambadaConfig)
    coqa: CoqaConfig = field(default_factory=CoqaConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        self.shots = str(self.shots)
        if self.shots not in SHOTS:
            raise ValueError(f"shots must be one of {', '.join(SHOTS)}, got {self.shots!r}")
        for name, value in (
            ("batch_size", self.batch_size),
            ("fewshot_k", self.fewshot_k),
            ("limit", self.limit),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.bootstrap_iters < 0:
            raise ValueError(f"bootstrap_iters must be >= 0, got {self.bootstrap_iters}")

    def out_dir(self) -> Path:
        if self.out is not None:
            return self.out
        if self.model is None:
            raise ValueError("no model to evaluate")
        if self.reward.model is not None:
            return self.model / "eval" / "reward"
        return self.model / "eval" / f"{self.shots}shot{'-chat' if self.chat_template else ''}"

    def num_fewshot(self, task_default_k: int) -> int:
        """Demos per prompt for a task whose few-shot default is ``task_default_k``."""
        if self.shots == "few":
            return self.fewshot_k if self.fewshot_k is not None else task_default_k
        return int(self.shots)
