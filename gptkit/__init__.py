"""gptkit: from raw web pages to an evaluated GPT."""

__version__ = "0.1.0"
