"""Byte-level BPE: training, loading, fast encoding.

``load_tokenizer(path)`` reads gptkit's own output, an HF ``tokenizer.json`` directory or
OpenAI's GPT-2 files (``encoder.json`` + ``vocab.bpe``) and returns a :class:`Tokenizer`
whose ``encode``/``encode_batch`` run on tiktoken, with HF ``tokenizers`` as the reference.
"""

from gptkit.tokenizer.load import load_tokenizer
from gptkit.tokenizer.tokenizer import EOT, Tokenizer

__all__ = ["EOT", "Tokenizer", "load_tokenizer"]
