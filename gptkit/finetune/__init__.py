"""GPT-1's supervised fine-tuning (``gptkit finetune``), in pipeline order:

- :mod:`~gptkit.finetune.readers` — the file formats task data comes in (GLUE TSV, CSV, JSON, tables);
- :mod:`~gptkit.finetune.tasks` — the task registry and each task's splits as :class:`Example` lists;
- :mod:`~gptkit.finetune.transforms` — task tokens, the input transforms, the truncation rule;
- :mod:`~gptkit.finetune.head` — batches, the head on the extract token, task + auxiliary LM loss;
- :mod:`~gptkit.finetune.metrics` — each task's official metric;
- :mod:`~gptkit.finetune.objective` — the trainer objective (batches, head, loss, per-epoch scores);
- :mod:`~gptkit.finetune.run` — the stage: MODEL + data → RUN with results.json and manifest;
- :mod:`~gptkit.finetune.predict` — predictions of a finished run as JSONL.
"""
