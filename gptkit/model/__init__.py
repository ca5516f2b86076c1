"""The GPT model: its shape, hidden states and heads, weight files, HF conversion, FLOPs and decoding."""
