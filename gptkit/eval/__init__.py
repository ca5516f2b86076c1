"""Evaluation through lm-evaluation-harness, offline."""
