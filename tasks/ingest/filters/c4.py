"""C4's quality rules (Raffel et al. 2020), as datatrove 0.10.1's ``C4QualityFilter`` implements them.

Line by line (``splitlines``, each stripped): drop lines with a word over ``max_word_length`` characters, remove
Wikipedia citation marks, drop lines without terminal punctuation (``filter_no_terminal_punct``; FineWeb turns
this off), drop lines of fewer than ``min_words_per_line`` words, drop the whole document on "lorem ipsum" or a
``{`` in a line that survived so far, drop lines mentioning javascript or a cookie/terms policy, then count the
sentences of the kept lines (spaCy's sentencizer) and drop documents with fewer than ``min_num_sentences``.

datatrove replaces the text with the kept lines. Quarry never rewrites in place: :meth:`C4Rules.rewrite` returns
the kept lines as a new version of the text, which the pipeline gives the later filters and the caller stores
as a new document version when ``remove_lines`` is on; with it off the text is left as it was and only the
keep/drop decision (identical either way) is taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from tasks.ingest.filters.base import DocFilter, TextView
from tasks.ingest.filters.words import count_sentences

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@dataclass(frozen=True)
class C4Rules(DocFilter):
    name: ClassVar[str] = "c4"
    remove_lines: bool = False  # store the kept lines as a new text version (datatrove: rewrites in place)
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = 5  # -1 disables
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True

    @property
    def rewrites_text(self) -> bool:
        return self.remove_lines

    def check(self, doc: TextView) -> str | None:
        return self._run(doc)[0]

    def rewrite(self, doc: TextView) -> tuple[str | None, str | None]:
        return self._run(doc)

    def _run(self, doc: TextView) -> tuple[str | None, str | None]:
        num_sentences = 0
        kept: list[str] = []
        count = self.min_num_sentences != -1
        for raw in doc.splitlines:
            line = raw.strip()
            words = line.split()
            if self.max_word_length != -1 and any(len(w) > self.max_word_length for w in words):
                continue
            if self.remove_citations and "[" in line:
                line = CITATION.sub("", line)
            if self.filter_no_terminal_punct and (
                not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)
            ):
                continue
            if len(words) < self.min_words_per_line:
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                return self.drop("lorem_ipsum"), None
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                return self.drop("curly_bracket"), None
            if self.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
                continue
            if count:
                num_sentences += count_sentences(line)
            kept.append(line)
        if num_sentences < self.min_num_sentences:
            return self.drop("too_few_sentences"), None
        return None, "\n".join(kept).strip()
