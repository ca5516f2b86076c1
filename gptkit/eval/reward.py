"""``gptkit eval --reward RM``: a policy judged by a reward model on held-out prompts.

InstructGPT compares its policies by what a reward model (and people) think of their replies,
not by benchmark log-likelihoods: the model samples a reply to each prompt, the SFT model
samples one to the same prompt with the same seed, and the reward model scores both. The
result is written as an lm-eval-style ``results.json`` (task ``reward``), so reports and
``gptkit verify`` read it like any other evaluation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gptkit.config import dump_toml, to_dict
from gptkit.errors import UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.results import RESULTS_FILE
from gptkit.io.atomic import atomic_write_json
from gptkit.io.manifest import Manifest, file_record, input_records, library_versions
from gptkit.stage import StageRun, check_inputs, identity

#: prompts scored when ``--limit`` is not given
DEFAULT_LIMIT = 64
METRICS = ("mean_reward", "win_rate_vs_sft", "mean_kl", "sft_mean_reward", "mean_response_length",
           "sft_mean_response_length")


def evaluate_reward(config: EvalConfig, stage: str, run_only: tuple[str, ...]) -> tuple[Path, dict[str, Any], bool]:
    """Score ``config.model``'s replies with ``config.reward.model``; returns the output folder,
    the results dict and whether a finished identical evaluation was reused."""
    from gptkit.chat.data import conversation_files
    from gptkit.model.store import resolve_model_dir
    from gptkit.rlhf.ppo import PPOConfig, evaluate_policy

    reward = config.reward
    if config.tasks:
        raise UsageError("--reward scores sampled replies, not lm-eval tasks: run --tasks in a separate 'gptkit eval'")
    for key in ("prompts", "sft"):
        if getattr(reward, key) is None:
            raise UsageError(f"--reward needs --{key} (eval.reward.{key})")
    judge = [] if reward.model.startswith("regex:") else [Path(reward.model)]
    check_inputs([config.model, reward.sft, *judge], partial_ok=("train",))
    models = [resolve_model_dir(p, config.checkpoint) for p in (config.model, reward.sft, *judge)]
    files = [f for d in models for f in sorted(d.iterdir()) if f.is_file()]
    inputs = input_records([*files, *conversation_files(reward.prompts, reward.split)])
    out, limit, t0 = config.out_dir(), config.limit or DEFAULT_LIMIT, time.time()
    run = StageRun(stage, out, identity(to_dict(config), run_only), inputs)
    if run.reuse() is not None:
        return out, json.loads((out / RESULTS_FILE).read_text(encoding="utf-8")), True
    run.begin()
    ppo_config = PPOConfig(model=reward.sft, reward=reward.model, prompts=reward.prompts,
                           max_tokens=reward.max_tokens, temperature=reward.temperature)  # fmt: skip
    scores = evaluate_policy(models[0], ppo_config, reward.split, limit, config.seed)
    results = {
        "results": {"reward": {"alias": "reward", **{f"{k},none": scores[k] for k in METRICS}}},
        "n-samples": {"reward": {"original": scores["prompts"], "effective": scores["prompts"]}},
        "gptkit": {"model": {"path": str(config.model)}, "shots": "0", "reward": to_dict(reward),
                   "versions": library_versions()},
    }  # fmt: skip
    atomic_write_json(out / RESULTS_FILE, results)
    dump_toml({stage: config}, out / "config.toml")
    run.finish(Manifest(stage=stage, config=to_dict(config), inputs=inputs, outputs=[file_record(out / RESULTS_FILE, out)],
                        counts={"prompts": scores["prompts"]}, timings={"total": round(time.time() - t0, 3)}))  # fmt: skip
    return out, results, False
