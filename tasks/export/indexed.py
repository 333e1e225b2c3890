"""Megatron-LM's indexed dataset format (``MMIDIDX`` version 1): a ``.bin`` of raw tokens and an ``.idx``.

The ``.idx`` is what ``megatron.core.datasets.indexed_dataset.IndexedDataset`` (and GPT-NeoX, NeMo, and
every tool that copied it) reads::

    b"MMIDIDX\\x00\\x00"  <Q version=1  <B dtype code  <Q sequence_count  <Q document_count
    int32[sequence_count]  sequence lengths (tokens)
    int64[sequence_count]  sequence pointers (byte offsets into .bin)
    int64[document_count]  document indices: 0, then the sequence count after each document

The ``.bin`` holds the sequences back to back in the dtype (``uint16`` for vocabularies under 65,500 tokens,
``int32`` above, as Megatron chooses). Quarry writes one *packed* sequence per Megatron document, so the
document indices are ``0, 1, …, n``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

INDEX_HEADER = b"MMIDIDX\x00\x00"
_CODES: dict[str, int] = {
    "uint8": 1,
    "int8": 2,
    "int16": 3,
    "int32": 4,
    "int64": 5,
    "float64": 6,
    "float32": 7,
    "uint16": 8,
}
_DTYPES = {code: name for name, code in _CODES.items()}


def token_dtype(vocab_size: int) -> np.dtype[np.integer]:
    """Megatron's choice: ``uint16`` below 65,500 token ids, ``int32`` otherwise."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def encode_index(lengths: npt.NDArray[np.int64], dtype: np.dtype[np.integer]) -> bytes:
    """The ``.idx`` bytes for sequences of ``lengths`` tokens stored back to back, one sequence per document."""
    lengths32 = np.asarray(lengths, dtype=np.int32)
    pointers = np.zeros(len(lengths32), dtype=np.int64)
    if len(lengths32):
        pointers[1:] = np.cumsum(lengths32[:-1].astype(np.int64)) * dtype.itemsize
    documents = np.arange(len(lengths32) + 1, dtype=np.int64)
    head = INDEX_HEADER + struct.pack("<Q", 1) + struct.pack("<B", _CODES[dtype.name])
    head += struct.pack("<Q", len(lengths32)) + struct.pack("<Q", len(documents))
    return head + lengths32.tobytes() + pointers.tobytes() + documents.tobytes()


@dataclass(frozen=True)
class IndexedShard:
    """A read-only, memory-mapped ``.bin``/``.idx`` pair."""

    dtype: np.dtype[np.integer]
    lengths: npt.NDArray[np.int32]
    pointers: npt.NDArray[np.int64]
    documents: npt.NDArray[np.int64]
    tokens: npt.NDArray[np.integer]  # the whole .bin, memory-mapped

    @classmethod
    def open(cls, prefix: str) -> IndexedShard:
        """Open ``<prefix>.idx`` and ``<prefix>.bin`` (local files)."""
        with open(f"{prefix}.idx", "rb") as fh:
            raw = fh.read()
        if raw[:9] != INDEX_HEADER:
            raise ValueError(f"{prefix}.idx is not a Megatron index (bad header)")
        (version,) = struct.unpack_from("<Q", raw, 9)
        if version != 1:
            raise ValueError(f"{prefix}.idx has index version {version}, expected 1")
        (code,) = struct.unpack_from("<B", raw, 17)
        if code not in _DTYPES:
            raise ValueError(f"{prefix}.idx has an unknown dtype code {code}")
        dtype = np.dtype(_DTYPES[code])
        n_seq, n_doc = struct.unpack_from("<QQ", raw, 18)
        offset = 34
        lengths = np.frombuffer(raw, dtype=np.int32, count=n_seq, offset=offset)
        offset += lengths.nbytes
        pointers = np.frombuffer(raw, dtype=np.int64, count=n_seq, offset=offset)
        offset += pointers.nbytes
        documents = np.frombuffer(raw, dtype=np.int64, count=n_doc, offset=offset)
        if n_doc < 1 or int(documents[-1]) != n_seq:
            raise ValueError(f"{prefix}.idx is inconsistent (document indices do not end at {n_seq})")
        tokens: npt.NDArray[np.integer] = np.memmap(f"{prefix}.bin", dtype=dtype, mode="r")
        expected = int(lengths.astype(np.int64).sum())
        if tokens.shape[0] != expected:
            raise ValueError(f"{prefix}.bin holds {tokens.shape[0]} tokens, its index says {expected}")
        return cls(dtype, lengths, pointers, documents, tokens)

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def sequence(self, i: int) -> npt.NDArray[np.integer]:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.lengths[i])]
