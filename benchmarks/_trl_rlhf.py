"""The TRL half of bench_rlhf.py's speed comparison; runs with the TRL venv's interpreter, never imports gptkit.

Usage: python _trl_rlhf.py SETTINGS.json → trains TRL's ``RewardTrainer`` (``part = "rm"``) or its
experimental ``PPOTrainer`` (``part = "ppo"``; TRL 1.x dropped it, so this half needs a TRL ≤ 0.29 on
``PYTHONPATH``) from the ``gptkit export``ed SFT model and prints one JSON line with the training loop's
wall and CPU seconds (``trainer.train()`` only) and the optimizer steps it took.

SETTINGS: ``part``, ``hf_dir``, ``data`` (JSONL, token ids made by bench_rlhf.py with gptkit's template:
``{"chosen_ids", "rejected_ids"}`` pairs or ``{"input_ids"}`` prompts), ``out``, ``steps`` (rm) or
``rollouts`` (ppo), ``batch``, ``lr``, ``threads``, ``seed``, and for PPO ``ppo`` (TRL's config fields).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def reward_trainer(s: dict, data, tokenizer, model_cls):
    from trl import RewardConfig, RewardTrainer

    model = model_cls.from_pretrained(s["hf_dir"], num_labels=1, pad_token_id=tokenizer.pad_token_id)
    config = RewardConfig(
        output_dir=s["out"], max_steps=s["steps"], per_device_train_batch_size=s["batch"],
        gradient_accumulation_steps=1, max_length=None, learning_rate=s["lr"], lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, seed=s["seed"], use_cpu=True, bf16=False, fp16=False,
        logging_steps=10, save_strategy="no", eval_strategy="no", report_to=[], dataloader_num_workers=0,
        disable_tqdm=True, gradient_checkpointing=False,
    )  # fmt: skip
    return RewardTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)


def ppo_trainer(s: dict, data, tokenizer, model_cls):
    from transformers import AutoModelForCausalLM
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    def scorer():
        return model_cls.from_pretrained(s["hf_dir"], num_labels=1, pad_token_id=tokenizer.pad_token_id)

    policy, ref = (AutoModelForCausalLM.from_pretrained(s["hf_dir"]) for _ in range(2))
    for m in (policy, ref):
        m.generation_config.pad_token_id = tokenizer.pad_token_id
    p = s["ppo"]
    config = PPOConfig(
        output_dir=s["out"], total_episodes=s["rollouts"] * p["rollout_size"],
        per_device_train_batch_size=p["rollout_size"], gradient_accumulation_steps=1,
        local_rollout_forward_batch_size=p["rollout_size"], num_mini_batches=p["rollout_size"] // s["batch"],
        num_ppo_epochs=p["ppo_epochs"], response_length=p["max_tokens"], temperature=p["temperature"],
        stop_token_id=p["stop_token_id"], kl_coef=p["kl_coef"], cliprange=p["cliprange"],
        cliprange_value=p["cliprange_value"], vf_coef=p["vf_coef"], gamma=p["gamma"], lam=p["lam"],
        learning_rate=s["lr"], lr_scheduler_type="constant", max_grad_norm=1.0, seed=s["seed"], use_cpu=True,
        bf16=False, fp16=False, num_sample_generations=0, logging_steps=1, save_strategy="no", report_to=[],
        dataloader_num_workers=0, disable_tqdm=True, missing_eos_penalty=None,
    )  # fmt: skip
    return PPOTrainer(args=config, processing_class=tokenizer, model=policy, ref_model=ref, reward_model=scorer(),
                      value_model=scorer(), train_dataset=data, eval_dataset=data)  # fmt: skip


def main() -> None:
    s = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import torch

    torch.set_num_threads(s["threads"])
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = [json.loads(line) for line in Path(s["data"]).read_text(encoding="utf-8").splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(s["hf_dir"])
    tokenizer.pad_token = tokenizer.bos_token  # the export names no pad token; TRL needs one
    make = reward_trainer if s["part"] == "rm" else ppo_trainer
    trainer = make(s, Dataset.from_list(rows), tokenizer, AutoModelForSequenceClassification)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    history = trainer.state.log_history
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "global_step": trainer.state.global_step,
                      "last_log": history[-1] if history else None}))  # fmt: skip


if __name__ == "__main__":
    main()
