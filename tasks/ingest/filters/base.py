"""The filter step contract, the shared per-document text views, and the pipeline that runs filters in order.

After datatrove: a filter's :meth:`DocFilter.check` returns ``None`` to keep a document or a drop reason
``"<filter>:<reason>"`` where ``<reason>`` is datatrove's own reason string (``"gopher_quality:gopher_short_doc"``).
:class:`FilterPipeline` runs the filters in order, stops at the first drop, and counts keeps, drops per reason
and time per filter, so every removed document is accounted for. A filter that rewrites text (C4 line removal)
hands the pipeline a new version of the text; the original is never changed in place.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from tasks.ingest.filters.words import split_words

# Languages written without spaces between words. datatrove segments them with per-language tokenizers
# (jieba, SudachiPy, pythainlp, ...); Quarry's fallback counts each character of these scripts as a word.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue"})
_NO_SPACE_WORD = re.compile(
    r"[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


def _split_no_space(text: str) -> list[str]:
    """Fallback word split for scripts without spaces: one word per character of those scripts."""
    words: list[str] = []
    for chunk in text.split():
        pos = 0
        for match in _NO_SPACE_WORD.finditer(chunk):
            if match.start() > pos:
                words.extend(split_words(chunk[pos : match.start()]))
            words.append(match.group())
            pos = match.end()
        if pos < len(chunk):
            words.extend(split_words(chunk[pos:]))
    return words


class TextView:
    """One version of a document's text and its derived views, computed lazily and shared by all filters."""

    def __init__(self, text: str, language: str = "und") -> None:
        self.text = text
        self.language = language

    @cached_property
    def words(self) -> list[str]:
        """datatrove's ``split_into_words``: spaCy's English word split (see :mod:`words`)."""
        if self.language in NO_SPACE_LANGUAGES:
            return _split_no_space(self.text)
        return split_words(self.text)

    @cached_property
    def splitlines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def nonblank_lines(self) -> list[str]:
        """Lines split on ``\\n`` only, blank ones dropped (FineWeb's definition)."""
        return [line for line in self.text.split("\n") if line.strip()]

    @property
    def spaced(self) -> bool:
        return self.language not in NO_SPACE_LANGUAGES


class DocFilter:
    """Base class: subclasses set ``name`` and implement ``check`` (and ``rewrite`` if they rewrite text)."""

    name: ClassVar[str] = "filter"

    def check(self, doc: TextView) -> str | None:
        raise NotImplementedError

    def rewrite(self, doc: TextView) -> tuple[str | None, str | None]:
        """(drop reason, new text or None when unchanged). Filters that never rewrite just check."""
        return self.check(doc), None

    @property
    def rewrites_text(self) -> bool:
        return False

    def drop(self, reason: str) -> str:
        return f"{self.name}:{reason}"


def find_duplicates(items: Sequence[str]) -> tuple[int, int]:
    """(number of items equal to an earlier one, their characters): datatrove's ``find_duplicates``."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items, dup_chars


@dataclass
class FilterStats:
    kept: int = 0
    rewritten: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "rewritten": self.rewritten,
            "dropped": dict(sorted(self.dropped.items())),
            "seconds": {k: round(v, 6) for k, v in sorted(self.seconds.items())},
        }


FiltersFor = Callable[[str], Sequence[DocFilter]]


class FilterPipeline:
    """Runs filters in order on a :class:`TextView`; ``filters`` is a list, or a function of the document's
    language giving the list (per-language recipes such as FineWeb2).

    Calling it returns the drop reason (``None``: kept). When a filter rewrote the text (C4 line removal), the
    later filters judge the new version and :attr:`last_rewrite` holds it (``None`` when the text is unchanged):
    the caller stores it as a new version of the document, never over the original.
    """

    def __init__(self, filters: Sequence[DocFilter] | FiltersFor, name: str = "custom") -> None:
        if callable(filters):
            self._filters_for: FiltersFor = filters
        else:
            fixed = tuple(filters)
            self._filters_for = lambda _language: fixed
        self.name = name
        self.stats = FilterStats()
        self.last_rewrite: str | None = None

    def filters_for(self, language: str) -> Sequence[DocFilter]:
        return self._filters_for(language)

    @property
    def filters(self) -> Sequence[DocFilter]:
        """The filters applied to English documents (for display and tests)."""
        return self._filters_for("en")

    def __call__(self, doc: TextView) -> str | None:
        self.last_rewrite = None
        for flt in self._filters_for(doc.language):
            start = time.perf_counter()
            if flt.rewrites_text:
                reason, new_text = flt.rewrite(doc)
                if reason is None and new_text is not None and new_text != doc.text:
                    doc = TextView(new_text, doc.language)
                    self.last_rewrite = new_text
            else:
                reason = flt.check(doc)
            self.stats.seconds[flt.name] += time.perf_counter() - start
            if reason is not None:
                self.stats.dropped[reason] += 1
                self.last_rewrite = None
                return reason
        self.stats.kept += 1
        if self.last_rewrite is not None:
            self.stats.rewritten += 1
        return None
