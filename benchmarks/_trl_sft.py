"""The TRL half of bench_sft.py's speed comparison; runs with the TRL venv's interpreter, never imports gptkit.

Usage: python _trl_sft.py SETTINGS.json → trains TRL's ``SFTTrainer`` (``assistant_only_loss``, the
chat template of the exported model) and saves the model; prints one JSON line with the training
loop's wall and CPU seconds (``trainer.train()`` only) and TRL's own metrics.

SETTINGS: ``hf_dir`` (``gptkit export`` of the SFT base: weights, tokenizer, chat template),
``train_file`` (JSONL of ``{"messages": [...]}``), ``out``, ``steps``, ``batch``, ``max_length``, ``lr``,
``beta2``, ``threads``, ``seed``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    s = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import torch

    torch.set_num_threads(s["threads"])
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    lines = Path(s["train_file"]).read_text(encoding="utf-8").splitlines()
    data = Dataset.from_list([json.loads(line) for line in lines])
    no_dropout = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    model = AutoModelForCausalLM.from_pretrained(s["hf_dir"], dtype=torch.float32, **no_dropout)
    config = SFTConfig(
        output_dir=s["out"], max_steps=s["steps"], per_device_train_batch_size=s["batch"],
        gradient_accumulation_steps=1, max_length=s["max_length"], assistant_only_loss=True, packing=False,
        learning_rate=s["lr"], lr_scheduler_type="cosine", warmup_steps=0, weight_decay=0.0,
        adam_beta2=s["beta2"], max_grad_norm=1.0, seed=s["seed"], use_cpu=True, bf16=False, fp16=False,
        logging_steps=10, save_strategy="no", eval_strategy="no", report_to=[], dataloader_num_workers=0,
        disable_tqdm=True,
    )  # fmt: skip
    trainer = SFTTrainer(model=model, args=config, train_dataset=data,
                         processing_class=AutoTokenizer.from_pretrained(s["hf_dir"]))  # fmt: skip
    wall, cpu = time.perf_counter(), time.process_time()
    metrics = trainer.train().metrics
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    trainer.save_model(s["out"])
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "train_runtime": metrics["train_runtime"],
                      "last_logged_loss": losses[-1] if losses else None}))  # fmt: skip


if __name__ == "__main__":
    main()
