"""Byte-level tokenizer for the proxy models: UTF-8 bytes are tokens 0-255, 256 ends a document.

Nothing to download or train, every language and every byte is representable, and proxy losses are in nats
per byte (comparable across tokenisers of larger models only through bits-per-byte, which is what they are).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

EOS = 256
VOCAB_SIZE = 257

TokenArray = npt.NDArray[np.uint16]


def encode(text: str) -> TokenArray:
    return np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8).astype(np.uint16)


def decode(tokens: npt.ArrayLike) -> str:
    arr = np.asarray(tokens)
    return bytes(int(t) for t in arr if int(t) < 256).decode("utf-8", errors="replace")


def encode_documents(texts: Iterable[str]) -> tuple[TokenArray, npt.NDArray[np.int64]]:
    """All documents back to back, each followed by EOS; returns (tokens, offsets) with ``offsets[i]`` the start
    of document ``i`` and ``offsets[-1]`` the total length (document ``i`` incl. its EOS is
    ``tokens[offsets[i]:offsets[i+1]]``)."""
    parts: list[bytes] = []
    lengths: list[int] = []
    for text in texts:
        b = (text or "").encode("utf-8", errors="replace")
        parts.append(b)
        lengths.append(len(b) + 1)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.full(int(offsets[-1]), EOS, dtype=np.uint16)
    if parts:
        raw = np.frombuffer(b"".join(parts), dtype=np.uint8).astype(np.uint16)
        # positions of the raw bytes: every position except each document's last (its EOS)
        ends = offsets[1:] - 1
        mask = np.ones(len(tokens), dtype=bool)
        mask[ends] = False
        tokens[mask] = raw
    return tokens, offsets
