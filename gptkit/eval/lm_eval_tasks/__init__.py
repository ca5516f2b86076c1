"""lm-eval task YAMLs over the data bundled with gptkit: ``lm_eval --include_path $(gptkit eval
--print-include-path) --tasks lambada_openai`` runs lm-eval's own task offline."""

from pathlib import Path

INCLUDE_PATH = Path(__file__).resolve().parent
