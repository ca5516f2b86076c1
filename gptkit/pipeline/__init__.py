"""Whole-pipeline runs: `gptkit quickstart` and `gptkit run RECIPE`."""
