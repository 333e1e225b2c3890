"""datatrove-side helpers (imported only inside .venv-bench-datatrove): offline language ID, Resiliparse.

* :class:`LocalFT176LID`: datatrove's ``FT176LID`` downloads ``lid.176.bin`` from a fixed URL on first use and
  has no path option; this subclass loads a local fastText model instead (Quarry's ``lid.176.ftz``). Prediction
  is datatrove's own code (``FastTextLID.predict``: the whole text, all 176 labels).
* :class:`ResiliparseExtractor`: datatrove 0.10.1 ships only Trafilatura and Readability+Inscriptis
  extractors. This is a ``BaseExtractor`` (so it runs in datatrove's extraction sandbox process like the stock
  ones) calling Resiliparse with the same options as Quarry's ``tasks.ingest.extract.html_to_text``, to give
  a same-extractor comparison next to the stock FineWeb recipe.
"""

from __future__ import annotations

from typing import Any, ClassVar

from datatrove.pipeline.extractors.base import BaseExtractor
from datatrove.pipeline.filters import LanguageFilter
from datatrove.utils.lid import FT176LID


class LocalFT176LID(FT176LID):
    def __init__(self, path: str, languages: list[str] | None = None, k: int = -1) -> None:
        super().__init__(languages, k)
        self.path = path

    @property
    def model(self) -> Any:
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.path)
        return self._model


def language_filter(lid_path: str, languages: list[str] | None, threshold: float) -> LanguageFilter:
    step = LanguageFilter(languages=languages, language_threshold=threshold)
    step.model = LocalFT176LID(lid_path, languages)
    return step


class ResiliparseExtractor(BaseExtractor):
    name = "⛏ Resiliparse"
    _requires_dependencies: ClassVar[list[str]] = ["resiliparse"]

    def __init__(self, timeout: float = 5.0) -> None:
        super().__init__(timeout)

    def extract(self, text: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text

        return str(
            extract_plain_text(
                text,
                preserve_formatting=True,
                main_content=True,
                list_bullets=True,
                alt_texts=False,
                links=False,
                form_fields=False,
                noscript=False,
                comments=False,
                post_meta=False,
            )
        )


def step_stats(stats: Any) -> list[dict[str, Any]]:
    """(name, counters, time) of each pipeline step from datatrove's ``PipelineStats``."""
    out = []
    for step in stats.stats:
        counters = {k: (v.total if hasattr(v, "total") else v) for k, v in step.stats.items()}
        out.append({"name": step.name, "time_s": float(step.time_stats.total), "stats": counters})
    return out
