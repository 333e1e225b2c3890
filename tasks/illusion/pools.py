"""The pools the experiment's proxies train on: the web pool filtered at a keep ratio, and the synthetic control
(high-quality text with a known share of token-permuted documents)."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasks.sweep.tokenizer import TokenArray, encode_documents


def permute_tokens(text: str, seed: int) -> str:
    """The document's whitespace-separated tokens in a random order, poured back into its lines (each line keeps
    its token count): the same words and layout, no syntax. Known-bad text by construction."""
    lines = [ln.split() for ln in text.splitlines()]
    tokens = [t for ln in lines for t in ln]
    random.Random(seed).shuffle(tokens)
    out, i = [], 0
    for ln in lines:
        out.append(" ".join(tokens[i : i + len(ln)]))
        i += len(ln)
    return "\n".join(out)


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def synthetic_pool(docs: Sequence[str], permuted_share: float) -> tuple[list[str], npt.NDArray[np.bool_]]:
    """The documents with ``round(share × n)`` of them token-permuted (the same ones, in a fixed hash order, so a
    larger share permutes a superset); returns (texts, intact mask)."""
    if not 0 <= permuted_share <= 1:
        raise ValueError("permuted_share must be in [0, 1]")
    order = sorted(range(len(docs)), key=lambda i: _key(docs[i]))
    bad = set(order[: round(permuted_share * len(docs))])
    texts = [permute_tokens(d, _key(d)) if i in bad else d for i, d in enumerate(docs)]
    intact = np.array([i not in bad for i in range(len(docs))], dtype=bool)
    return texts, intact


def keep_top(scores: npt.ArrayLike, keep: float) -> npt.NDArray[np.float64]:
    """Sampling values: 1 for the ``ceil(keep × n)`` highest-scored documents (ties broken by position), else 0."""
    s = np.asarray(scores, dtype=np.float64)
    if not 0 < keep <= 1:
        raise ValueError("keep ratios must be in (0, 1]")
    k = max(1, math.ceil(keep * len(s))) if len(s) else 0
    values = np.zeros(len(s), dtype=np.float64)
    values[np.argsort(-s, kind="stable")[:k]] = 1.0
    return values


@dataclass
class Pool:
    """Encoded documents a proxy's stream draws from."""

    name: str
    texts: list[str]
    tokens: TokenArray
    offsets: npt.NDArray[np.int64]
    intact: npt.NDArray[np.bool_] | None = None  # the synthetic control's known-good documents

    @classmethod
    def of(cls, name: str, texts: list[str], intact: npt.NDArray[np.bool_] | None = None) -> Pool:
        tokens, offsets = encode_documents(texts)
        return cls(name, texts, tokens, offsets, intact)

    def facts(self, values: npt.NDArray[np.float64], budget: int) -> dict[str, float | int | None]:
        """What a keep selection holds: documents, byte tokens, epochs at ``budget`` and (synthetic) how much of
        it is intact text."""
        kept = values > 0
        lengths = self.offsets[1:] - self.offsets[:-1]
        size = int(lengths[kept].sum())
        out: dict[str, float | int | None] = {
            "documents": int(kept.sum()),
            "byte_tokens": size,
            "epochs": budget / size if size else None,
        }
        if self.intact is not None:
            out["intact_kept"] = int((kept & self.intact).sum())
            out["intact_in_pool"] = int(self.intact.sum())
        return out
