"""The one text normalisation fastText sees, at training (distill) and at scoring time (score)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]")
MAX_TOKENS = 2000  # fastText reads a line at a time; long documents are represented by their first tokens


def fasttext_line(text: str | None, max_tokens: int = MAX_TOKENS) -> str:
    """Lower-cased platform tokens (``\\w+|[^\\w\\s]``) joined by single spaces: no newlines, bounded length."""
    if not text:
        return ""
    tokens = _TOKEN.findall(text.lower()[: max_tokens * 12])
    return " ".join(tokens[:max_tokens])
