"""Byte-level BPE: training, loading, fast encoding."""
