"""Key-sorted index files and the probe that reads only the row groups holding wanted keys.

Every sealed index file (``<kind>/b<bucket>.parquet``, ``parent/b<bucket>.parquet``) is sorted by its lookup
column and written in row groups of ``row_group_rows`` rows with min/max statistics. ``read_rows`` with a
sorted set of wanted values opens the file's footer and reads only the row groups whose [min, max] range holds
one of them; what it read is counted in a :class:`ReadStats` (bytes as they come off the file handle, so the
count is what the reader really did, not what the footer claims).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.storage import exists, resolve, write_bytes_atomic


@dataclass
class ReadStats:
    """What a task read from earlier snapshots' index files."""

    files: int = 0
    row_groups: int = 0  # row groups read
    row_groups_total: int = 0  # row groups in the files opened
    bytes: int = 0  # row-group bytes read off the file handles
    footer_bytes: int = 0  # footers (metadata) read to choose the row groups

    def add(self, other: ReadStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class _CountingFile(io.RawIOBase):
    """A read-only file that counts the bytes read through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        super().__init__()
        self._fh = fh
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._fh.seek(offset, whence))

    def tell(self) -> int:
        return int(self._fh.tell())

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def write_sorted(url: str, table: pa.Table, row_group_rows: int) -> None:
    """Write ``table`` (already sorted) atomically in row groups of ``row_group_rows`` with statistics."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=max(1, row_group_rows),
        write_statistics=True,
        store_schema=True,
    )
    write_bytes_atomic(url, sink.getvalue())


def _hit(wanted: np.ndarray, lo: int, hi: int) -> bool:
    i = int(np.searchsorted(wanted, lo, side="left"))
    return i < len(wanted) and int(wanted[i]) <= hi


def read_rows(
    url: str,
    columns: dict[str, str],
    on: str | None = None,
    wanted: np.ndarray | None = None,
    stats: ReadStats | None = None,
    prune: bool = True,
) -> pd.DataFrame:
    """Rows of ``url`` (columns name -> dtype) whose ``on`` value is in ``wanted`` (sorted, unique int64), or
    all rows when ``wanted`` is None. ``prune=False`` reads every row group first (the full-read behaviour,
    kept for measurement). A missing file reads as no rows."""
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    if (wanted is not None and len(wanted) == 0) or not exists(url):
        return empty
    fs, path = resolve(url)
    with fs.open(path, "rb") as raw:
        counting = _CountingFile(raw)
        handle = pq.ParquetFile(counting)
        meta = handle.metadata
        footer = counting.count
        groups = list(range(meta.num_row_groups))
        if wanted is not None and on is not None and prune:
            at = meta.schema.to_arrow_schema().get_field_index(on)
            keep = []
            for g in groups:
                st = meta.row_group(g).column(at).statistics
                if st is None or not st.has_min_max or _hit(wanted, int(st.min), int(st.max)):
                    keep.append(g)
            groups = keep
        table = handle.read_row_groups(groups, columns=list(columns)) if groups else None
        if stats is not None:
            stats.files += 1
            stats.row_groups += len(groups)
            stats.row_groups_total += meta.num_row_groups
            stats.footer_bytes += footer
            stats.bytes += counting.count - footer
    if table is None or table.num_rows == 0:
        return empty
    frame = table.to_pandas()
    if wanted is not None and on is not None:
        frame = frame[np.isin(frame[on].to_numpy(np.int64), wanted)]
    return frame.astype(columns).reset_index(drop=True)
