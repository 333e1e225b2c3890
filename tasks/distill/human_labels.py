"""Agreement of the domain rater with human labels: the Turku CORE register annotations.

``<shared data>/labels/turku-register/`` holds web pages that people labelled with their *register* (genre):
``<corpus>/{dev,test}.tsv.xz`` (or ``*.tsv.gz``), one page per line, ``labels<TAB>text``. FrCORE and SvCORE use
the abbreviations NA narrative, IN informational description, IP informational persuasion, OP opinion,
ID interactive discussion, HI how-to/instructional, LY lyrical, SP spoken (a page may carry two, "NA IP");
FinCORE spells them out ("Narrative", "Info-Persuasion", "D-Informational", ...).

Registers and the rater's DataMan domains answer different questions — *what kind of text* versus *what it is
about* — so most registers have no domain counterpart. The mapping (:data:`REGISTER_CLASSES`,
:data:`DOMAIN_CLASSES`) names only the one both sides clearly share:

=====================  =================================  ==================================================
mapped class           human register                      rater domain
=====================  =================================  ==================================================
``commercial``         IP informational persuasion (its    Retail E-commerce
                       bulk is "description with intent
                       to sell": product and shop pages)
``other``              every other register                every other domain
=====================  =================================  ==================================================

A page with IP among its labels counts as ``commercial``. Narrative, informational, opinion, discussion, how-to,
lyrical and spoken text can be about any domain (a news story on medicine, a how-to on coding), so they map to no
domain. On the mapped classes :func:`register_agreement` gives accuracy, Cohen's κ and the 2×2 confusion; beside
it, the full register × domain contingency table and Cramér's V say, without any mapping, whether the rater's
domains relate to the human registers at all.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import lzma
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTERS = ("NA", "IN", "IP", "OP", "ID", "HI", "LY", "SP", "MT")
FULL_NAMES = {
    "narrative": "NA",
    "d-informational": "IN",
    "informational": "IN",
    "info-persuasion": "IP",
    "informational persuasion": "IP",
    "opinion": "OP",
    "discussion": "ID",
    "interactive discussion": "ID",
    "how-to": "HI",
    "lyrical": "LY",
    "spoken": "SP",
}
REGISTER_CLASSES: dict[str, str] = {"IP": "commercial"}
DOMAIN_CLASSES: dict[str, str] = {"Retail E-commerce": "commercial"}
OTHER = "other"
LANGUAGES = {"FrCORE": "fr", "SvCORE": "sv", "FinCORE": "fi"}


@dataclass(frozen=True)
class LabelledPage:
    corpus: str
    language: str
    registers: tuple[str, ...]  # main registers, in the order given ("NA", "IP")
    text: str

    @property
    def register(self) -> str:
        return self.registers[0] if self.registers else "OTHER"


def parse_registers(field: str) -> tuple[str, ...]:
    """``"NA IP"`` → ("NA", "IP"); ``"Info-Persuasion"`` → ("IP",); sub-registers and unknown labels dropped."""
    name = FULL_NAMES.get(field.strip().lower())
    if name:
        return (name,)
    return tuple(dict.fromkeys(t for t in field.replace(",", " ").split() if t in REGISTERS))


def _open(path: Path) -> Any:
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    return gzip.open(path, "rt", encoding="utf-8", errors="replace")


def label_files(root: str | Path) -> list[Path]:
    """The evaluation files under ``root``: ``test`` splits, and corpora that come as one file; never ``dev`` or
    ``train`` (tests and demos train on those)."""
    base = Path(root)
    found = sorted([*base.glob("*/*.tsv.xz"), *base.glob("*/*.tsv.gz")])
    return [p for p in found if p.name.split(".")[0] not in ("dev", "train")]


def _ranked_pages(
    lines: Iterable[str], corpus: str, language: str, seed: int, min_chars: int
) -> Iterator[tuple[bytes, LabelledPage]]:
    for line in lines:
        field, sep, text = line.rstrip("\n").partition("\t")
        registers = parse_registers(field)
        if not sep or not registers or len(text) < min_chars:
            continue
        rank = hashlib.blake2b(f"{seed}:{text[:2000]}".encode(), digest_size=8).digest()
        yield rank, LabelledPage(corpus, language, registers, text)


def load_register_pages(
    root: str | Path, sample_size: int = 200, seed: int = 0, min_chars: int = 200
) -> list[LabelledPage]:
    """A reproducible sample of labelled pages: the files under ``root`` (:func:`label_files`) contribute in turn,
    each its pages with the smallest seeded hash of their text first (a file that runs out leaves its share to
    the others). Raises FileNotFoundError when ``root`` holds no label files."""
    files = label_files(root)
    if not files:
        raise FileNotFoundError(f"no register label files (*/*.tsv.xz, *.tsv.gz) under {root}")
    per_file: list[list[LabelledPage]] = []
    for path in files:
        corpus = path.parent.name
        stem = path.name.split(".")[0]
        language = LANGUAGES.get(corpus, stem if len(stem) <= 3 else "und")
        with _open(path) as fh:
            # a file never gives more than ``sample_size`` pages: keep only its best-ranked ones while reading
            found = heapq.nsmallest(
                sample_size, _ranked_pages(fh, corpus, language, seed, min_chars), key=lambda item: item[0]
            )
        per_file.append([p for _, p in found])
    pages: list[LabelledPage] = []
    for depth in range(max((len(f) for f in per_file), default=0)):  # round robin: files contribute equally
        for found_in_file in per_file:
            if depth < len(found_in_file) and len(pages) < sample_size:
                pages.append(found_in_file[depth])
    return pages


def mapped_class(registers: Sequence[str]) -> str:
    for register in registers:
        if register in REGISTER_CLASSES:
            return REGISTER_CLASSES[register]
    return OTHER


def cohens_kappa(truth: Sequence[str], pred: Sequence[str]) -> float | None:
    """Cohen's κ = (p_o − p_e) / (1 − p_e); None when undefined (no pages, or chance agreement is certain)."""
    n = len(truth)
    if n == 0 or n != len(pred):
        return None
    observed = sum(t == p for t, p in zip(truth, pred, strict=True)) / n
    ct, cp = Counter(truth), Counter(pred)
    expected = sum(ct[c] * cp[c] for c in set(ct) | set(cp)) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def cramers_v(table: Mapping[str, Mapping[str, int]]) -> float | None:
    """Cramér's V of a contingency table (0: independent, 1: one determines the other); None when degenerate."""
    rows = sorted(table)
    cols = sorted({c for r in rows for c in table[r]})
    n = sum(table[r].get(c, 0) for r in rows for c in cols)
    if n == 0 or len(rows) < 2 or len(cols) < 2:
        return None
    row_tot = {r: sum(table[r].get(c, 0) for c in cols) for r in rows}
    col_tot = {c: sum(table[r].get(c, 0) for r in rows) for c in cols}
    chi2 = 0.0
    for r in rows:
        for c in cols:
            expected = row_tot[r] * col_tot[c] / n
            if expected > 0:
                chi2 += (table[r].get(c, 0) - expected) ** 2 / expected
    return math.sqrt(chi2 / (n * (min(len(rows), len(cols)) - 1)))


def register_agreement(registers: Sequence[Sequence[str]], domains: Sequence[str | None]) -> dict[str, Any]:
    """The domain rater (``domains``, one per page; None = no answer) against the human ``registers``."""
    if len(registers) != len(domains):
        raise ValueError("one predicted domain per labelled page")
    pairs = [(tuple(r), d) for r, d in zip(registers, domains, strict=True) if d is not None]
    truth = [mapped_class(r) for r, _ in pairs]
    pred = [DOMAIN_CLASSES.get(d, OTHER) for _, d in pairs]
    classes = sorted(set(REGISTER_CLASSES.values()) | {OTHER})
    confusion = {
        t: {p: sum(1 for a, b in zip(truth, pred, strict=True) if (a, b) == (t, p)) for p in classes}
        for t in classes
    }
    per_class: dict[str, dict[str, float | int | None]] = {}
    for c in classes:
        tp = confusion[c][c]
        predicted = sum(confusion[t][c] for t in classes)
        actual = sum(confusion[c].values())
        per_class[c] = {
            "human": actual,
            "rater": predicted,
            "precision": tp / predicted if predicted else None,
            "recall": tp / actual if actual else None,
        }
    contingency: dict[str, dict[str, int]] = {}
    for r, d in pairs:
        row = contingency.setdefault(r[0] if r else "OTHER", {})
        row[str(d)] = row.get(str(d), 0) + 1
    accuracy = sum(a == b for a, b in zip(truth, pred, strict=True)) / len(pairs) if pairs else None
    majority = max(Counter(truth).values()) / len(truth) if truth else None
    return {
        "n": len(registers),
        "n_answered": len(pairs),
        "mapping": {"registers": dict(REGISTER_CLASSES), "domains": dict(DOMAIN_CLASSES), "else": OTHER},
        "accuracy": accuracy,
        "majority_baseline": majority,
        "kappa": cohens_kappa(truth, pred),
        "confusion": confusion,
        "per_class": per_class,
        "contingency": contingency,
        "cramers_v": cramers_v(contingency),
    }


def domain_model_agreement(
    model: Any, root: str | Path, sample_size: int = 200, seed: int = 0
) -> dict[str, Any]:
    """:func:`register_agreement` of a distilled domain model (a :class:`tasks.distill.predict.LoadedModel`) on a
    sample of the labelled pages under ``root``; ``{"skipped": why}`` when there are no label files."""
    from tasks.distill.text import fasttext_line

    try:
        pages = load_register_pages(root, sample_size, seed)
    except (FileNotFoundError, OSError) as exc:
        return {"source": str(root), "skipped": str(exc)}
    _, predicted = model.predict([fasttext_line(p.text) for p in pages])
    out = register_agreement([p.registers for p in pages], predicted)
    out.update(
        source=str(root),
        rater="distilled fastText domain model",
        languages=dict(Counter(p.language for p in pages)),
        registers=dict(Counter(p.register for p in pages)),
    )
    return out
