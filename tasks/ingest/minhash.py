"""MinHash signatures (rensa) and LSH band keys, FineWeb's defaults: 5-word shingles, 14 bands x 8 rows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from rensa import RMinHash

_WORD = re.compile(r"\w+", re.UNICODE)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def exact_hash(text: str) -> int:
    """64-bit hash of the normalised text (case, punctuation and spacing do not matter)."""
    return int.from_bytes(hashlib.blake2b(normalise(text).encode(), digest_size=8).digest(), "little")


def shingles(text: str, n: int, spaced: bool = True) -> list[str]:
    """Word n-gram shingles (character n-grams for languages written without spaces)."""
    if spaced:
        words = _WORD.findall(text.lower())
        if len(words) <= n:
            return [" ".join(words)] if words else [""]
        return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    chars = "".join(text.split())
    if len(chars) <= n:
        return [chars]
    return [chars[i : i + n] for i in range(len(chars) - n + 1)]


def signatures(shingle_sets: Sequence[Sequence[str]], num_perm: int, seed: int) -> np.ndarray:
    """One row of ``num_perm`` uint32 MinHash values per document."""
    if not shingle_sets:
        return np.zeros((0, num_perm), dtype=np.uint32)
    rows = RMinHash.digest_matrix_from_token_sets(list(shingle_sets), num_perm=num_perm, seed=seed).to_rows()
    return np.asarray(rows, dtype=np.uint32)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 keys: documents sharing a key in any band are candidate duplicates."""
    n = sigs.shape[0]
    if sigs.shape[1] < bands * rows:
        raise ValueError(f"signatures have {sigs.shape[1]} values, need {bands * rows}")
    blocks = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    keys = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys = (keys ^ blocks[:, :, r]) * _MIX + np.uint64(r + 1)
            keys ^= keys >> np.uint64(29)
        # The band index is part of the key so equal rows in different bands never collide.
        keys ^= np.arange(bands, dtype=np.uint64)[None, :] * np.uint64(0xBF58476D1CE4E5B9)
    return keys
