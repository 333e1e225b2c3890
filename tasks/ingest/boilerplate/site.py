"""Per-shard pass: lines repeated across pages of the same site are the site's template, not its content.

Resiliparse and the block rules see one page at a time, so a site's own chrome that reads like prose (a
slogan, an author box, a newsletter appeal in words no pattern knows) survives them. Within one shard, a line
that occurs on at least ``min_pages`` distinct pages of the same host is removed from every page of that host.

Guards: pages with identical text count once (an exact duplicate is dedup's business, not a template); a page
that would lose every line is left as it is (the whole page repeats: dedup decides); blank lines are kept so
paragraph breaks survive. The pass is deterministic and independent of page order.

The trafilatura evaluation pages are nearly all one page per site, so this pass does not change the
evaluation numbers; its unit tests show what it removes.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)", re.IGNORECASE)
_BLANKS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class SiteRepeatConfig:
    """``min_pages``: a line repeated on this many distinct pages of one host is template (0 turns the pass
    off); ``max_line_chars``: longer lines are never treated as template (a quoted paragraph or a syndicated
    lead is content even when it repeats)."""

    min_pages: int = 3
    max_line_chars: int = 400


def host_of(url: str) -> str:
    """The host of ``url``, lower-cased, without ``www.``; '' when the URL has none."""
    match = _HOST.match(url.strip())
    return match.group(1).lower().removeprefix("www.") if match else ""


def _key(line: str) -> str:
    return " ".join(line.split()).lower()


def template_lines(pages: Sequence[tuple[str, str]], config: SiteRepeatConfig) -> dict[str, set[str]]:
    """Per host, the normalised lines that occur on at least ``config.min_pages`` distinct pages of it."""
    if config.min_pages <= 0:
        return {}
    by_host: defaultdict[str, dict[int, str]] = defaultdict(dict)
    for url, text in pages:
        host = host_of(url)
        if host:
            by_host[host].setdefault(hash(text), text)
    out: dict[str, set[str]] = {}
    for host, texts in by_host.items():
        if len(texts) < config.min_pages:
            continue
        counts: Counter[str] = Counter()
        for text in texts.values():
            counts.update({_key(line) for line in text.split("\n") if 0 < len(line) <= config.max_line_chars})
        counts.pop("", None)
        repeated = {line for line, n in counts.items() if n >= config.min_pages}
        if repeated:
            out[host] = repeated
    return out


def strip_site_repeats(pages: Sequence[tuple[str, str]], config: SiteRepeatConfig) -> tuple[list[str], int]:
    """The texts of ``pages`` ((url, text) pairs) without their site's template lines, in order, and how many
    lines were removed in all."""
    templates = template_lines(pages, config)
    out: list[str] = []
    removed = 0
    for url, text in pages:
        template = templates.get(host_of(url))
        if not template:
            out.append(text)
            continue
        lines = text.split("\n")
        kept = [line for line in lines if not line.strip() or _key(line) not in template]
        dropped = len(lines) - len(kept)
        if not dropped or not any(line.strip() for line in kept):
            out.append(text)
            continue
        removed += dropped
        out.append(_BLANKS.sub("\n\n", "\n".join(kept)).strip())
    return out, removed
