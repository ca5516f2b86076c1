"""GPT-1/GPT-2 models, training loop, checkpoints, export."""
