"""The high-quality reference set: textbook and encyclopedic text, cut into documents and split deterministically
into a classifier-training part, a synthetic-control part and a held-out part.

Sources (``../shared/data/eval`` by default, see :func:`default_sources`): WikiText-2 *validation* articles (the
wikitext2 target set is the *test* split, so no target text is in the reference set), the OpenStax
"Introduction to Python Programming" textbook (CNXML modules) and the English Debian Reference (HTML chapters).

Contamination guard: a reference document any of whose lines (80+ characters, whitespace collapsed) also occurs
in the web pool is dropped and counted, so that "held-out high-quality" text never sits in the pool the proxies
train on (the test fixtures build their pool from some of the same books).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tasks.storage import resolve

Format = Literal["wikitext", "markup-tar", "text"]
Part = Literal["classifier", "synthetic", "heldout"]
MIN_LINE = 80  # characters: shorter lines (headings, "See also") repeat across unrelated documents


@dataclass(frozen=True)
class ReferenceSource:
    name: str
    path: str
    format: Format = "text"
    members: str = ""  # markup-tar: a regular expression the member names must match
    max_chars: int = 600_000  # text read from this source (after markup is stripped)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "path": self.path,
            "format": self.format,
            "members": self.members,
            "max_chars": self.max_chars,
        }


def default_sources(eval_dir: str, max_chars: int = 600_000) -> tuple[ReferenceSource, ...]:
    return (
        ReferenceSource(
            "wikitext2-valid",
            os.path.join(eval_dir, "wikitext-2", "wiki.valid.txt"),
            "wikitext",
            "",
            max_chars,
        ),
        ReferenceSource(
            "openstax-python",
            os.path.join(eval_dir, "openstax-intro-python", "openstax-intro-python-cnxml.tar.gz"),
            "markup-tar",
            r"\.cnxml$",
            max_chars,
        ),
        ReferenceSource(
            "debian-reference-en",
            os.path.join(eval_dir, "debian-docs", "debian-reference-6lang-html.tar.xz"),
            "markup-tar",
            r"\.en\.html$",
            max_chars,
        ),
    )


def strip_markup(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", markup))
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln)


def chunk(text: str, size: int, min_chars: int) -> list[str]:
    """Consecutive lines joined into documents of about ``size`` characters; shorter than ``min_chars`` dropped."""
    out: list[str] = []
    cur: list[str] = []
    n = 0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        cur.append(line)
        n += len(line) + 1
        if n >= size:
            out.append("\n".join(cur))
            cur, n = [], 0
    if cur:
        out.append("\n".join(cur))
    return [d for d in out if len(d) >= min_chars]


def _source_text(src: ReferenceSource) -> Iterator[str]:
    fs, path = resolve(src.path)
    if not fs.exists(path):
        raise FileNotFoundError(f"reference source {src.name!r} not found: {src.path}")
    if src.format == "markup-tar":
        pattern = re.compile(src.members) if src.members else None
        with fs.open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:
            for member in tar:  # streamed: stops reading the archive once enough text came out
                if not member.isfile() or (pattern and not pattern.search(member.name)):
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    yield strip_markup(fh.read().decode("utf-8", errors="replace"))
        return
    with fs.open(path, "rb", compression="infer") as fh:
        text = fh.read(src.max_chars * 2).decode("utf-8", errors="replace")
    if src.format == "wikitext":  # one article per " = Title = " heading
        yield from re.split(r"\n \= [^=].*? \= \n", text)
    else:
        yield text


def read_source(
    src: ReferenceSource, doc_chars: int = 2000, min_chars: int = 300, min_mean_line: int = 30
) -> list[str]:
    """The source's documents: prose of about ``doc_chars`` characters (tables and lists of short lines, mean
    line shorter than ``min_mean_line``, are left out)."""
    docs: list[str] = []
    total = 0
    for text in _source_text(src):
        for d in chunk(text, doc_chars, min_chars):
            if len(d) / (d.count("\n") + 1) < min_mean_line:
                continue
            docs.append(d)
            total += len(d)
        if total >= src.max_chars:
            break
    if not docs:
        raise ValueError(f"reference source {src.name!r} ({src.path}) yielded no documents")
    return docs


def _lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        norm = " ".join(line.split())
        if len(norm) >= MIN_LINE:
            yield norm


def line_hashes(texts: Iterable[str]) -> set[bytes]:
    return {hashlib.blake2b(ln.encode(), digest_size=8).digest() for t in texts for ln in _lines(t)}


def _unit(text: str, salt: str) -> float:
    h = hashlib.blake2b(f"{salt}\n{text}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


@dataclass
class ReferenceSet:
    parts: dict[Part, list[str]]
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped_overlap: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "documents": {p: len(d) for p, d in self.parts.items()},
            "characters": {p: sum(len(t) for t in d) for p, d in self.parts.items()},
            "per_source": self.per_source,
            "dropped_overlapping_the_pool": self.dropped_overlap,
        }


def load_reference(
    sources: Sequence[ReferenceSource],
    *,
    pool_texts: Iterable[str] = (),
    heldout_fraction: float = 0.3,
    synthetic_fraction: float = 0.2,
    salt: str = "quarry-illusion",
) -> ReferenceSet:
    """Every source's documents, minus those overlapping the pool, each assigned to one part by a hash of its
    text (the same text always lands in the same part)."""
    if not 0 < heldout_fraction < 1 or not 0 <= synthetic_fraction < 1 - heldout_fraction:
        raise ValueError("heldout_fraction in (0, 1) and synthetic_fraction in [0, 1 - heldout_fraction)")
    seen = line_hashes(pool_texts)
    parts: dict[Part, list[str]] = {"classifier": [], "synthetic": [], "heldout": []}
    per_source: dict[str, dict[str, int]] = {}
    dropped = 0
    for src in sources:
        counts = {"classifier": 0, "synthetic": 0, "heldout": 0, "dropped_overlap": 0}
        for doc in read_source(src):
            if seen and line_hashes([doc]) & seen:
                counts["dropped_overlap"] += 1
                dropped += 1
                continue
            u = _unit(doc, salt)
            part: Part = (
                "heldout"
                if u < heldout_fraction
                else "synthetic"
                if u < heldout_fraction + synthetic_fraction
                else "classifier"
            )
            parts[part].append(doc)
            counts[part] += 1
        per_source[src.name] = counts
    if not parts["classifier"] or not parts["heldout"]:
        raise ValueError(f"the reference set is too small after the overlap guard: {per_source}")
    return ReferenceSet(parts, per_source, dropped)
