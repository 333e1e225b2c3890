"""Steps 2-4: candidate edges per key bucket, then connected components by min-label propagation.

Edges are stars: every member of a key group links to the group's smallest ordinal (both directions), so the
edge list grows with the number of duplicates, not with their square. Node state lives in node buckets;
each round a bucket sends its labels along its out-edges (messages land in the receivers' buckets) and each
bucket keeps the smallest label it received. Every task reads one bucket of one kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from tasks.dedup.partition import LOCAL_BITS, LOCAL_MASK, node_bucket, sealed_file
from tasks.dedup.probe import ReadStats, read_rows
from tasks.storage import read_parquet, write_parquet_atomic
from tasks.storage.fs import join, list_files

NONE = -1


@dataclass(frozen=True)
class Source:
    """One snapshot's index folder and its position among the snapshots of this run."""

    index_dir: str
    seq: int


KEY_COLUMNS = {"key": "int64", "ord": "int64"}


def _write_by_node(frame: pd.DataFrame, column: str, buckets: int, folder: str, name: str) -> None:
    """Write ``frame`` split by the node bucket of ``column`` into ``folder/n<bucket>/<name>.parquet``; an
    empty part is not written (readers list the folder: no file reads as no rows)."""
    bucket = node_bucket(frame[column].to_numpy(np.int64), buckets)
    for b in np.unique(bucket).tolist():
        part = frame[bucket == b]
        write_parquet_atomic(
            join(folder, f"n{b:05d}", f"{name}.parquet"), pa.Table.from_pandas(part, preserve_index=False)
        )


@dataclass(frozen=True)
class GroupTask:
    sources: list[Source]  # earlier snapshots first, the current one last
    kind: str
    bucket: int
    buckets: int
    work_dir: str
    current_seq: int
    exact_roots: bool
    prune: bool = True


def group_bucket(task: GroupTask) -> tuple[int, ReadStats]:
    """Star edges of every key of the current snapshot shared with another document; returns the edge count
    and what was read from earlier snapshots. The current bucket is read whole; each earlier snapshot's sealed
    bucket only in the row groups holding one of the current keys, and of its rows per key only the smallest
    ordinal (earlier documents sharing a key are already one component of the history: their labels say so).
    For the exact kind also each current document's exact root (smallest ordinal with the same text)."""
    stats = ReadStats()
    *earlier, current = task.sources
    own = read_rows(sealed_file(current.index_dir, task.kind, task.bucket), KEY_COLUMNS)
    own["ord"] = own["ord"] + (np.int64(current.seq) << np.int64(LOCAL_BITS))
    wanted = np.unique(own["key"].to_numpy(np.int64))
    frames = []
    for source in earlier:
        frame = read_rows(
            sealed_file(source.index_dir, task.kind, task.bucket),
            KEY_COLUMNS,
            "key",
            wanted,
            stats,
            task.prune,
        )
        frame["ord"] = frame["ord"] + (np.int64(source.seq) << np.int64(LOCAL_BITS))
        frames.append(frame)
    old = pd.concat(frames, ignore_index=True) if frames else own.iloc[:0]
    old = old.sort_values(["key", "ord"]).drop_duplicates("key")
    frame = pd.concat([old, own], ignore_index=True)
    keys = frame["key"].to_numpy(np.int64)
    ords = frame["ord"].to_numpy(np.int64)
    order = np.lexsort((ords, keys))
    keys, ords = keys[order], ords[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    group_min = ords[np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))] if len(keys) else ords
    member = ~first
    src, dst = ords[member], group_min[member]
    edges = pd.DataFrame({"src": np.concatenate([src, dst]), "dst": np.concatenate([dst, src])})
    name = f"{task.kind}-{task.bucket:05d}"
    _write_by_node(edges, "src", task.buckets, join(task.work_dir, "edges"), name)
    if task.exact_roots:
        cur = (src >> np.int64(LOCAL_BITS)) == task.current_seq
        roots = pd.DataFrame({"node": src[cur], "exact_root": dst[cur]})
        _write_by_node(roots, "node", task.buckets, join(task.work_dir, "exact"), name)
    return len(src), stats


@dataclass(frozen=True)
class NodeTask:
    sources: list[Source]
    bucket: int
    buckets: int
    work_dir: str
    round: int = 0
    prune: bool = True


def state_path(work_dir: str, round_: int, bucket: int) -> str:
    return join(work_dir, "state", f"r{round_:03d}", f"n{bucket:05d}.parquet")


def read_folder(folder: str, columns: dict[str, str]) -> pd.DataFrame:
    frames = [read_parquet(p).to_pandas() for p in list_files(folder, (".parquet",))]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.concat(frames, ignore_index=True)


EDGE_FOLDERS = ("edges", "chain")  # key edges, and the history's parent links found by the label lookup


def read_edges(work_dir: str, bucket: int) -> pd.DataFrame:
    return pd.concat(
        [
            read_folder(join(work_dir, folder, f"n{bucket:05d}"), {"src": "int64", "dst": "int64"})
            for folder in EDGE_FOLDERS
        ],
        ignore_index=True,
    )


def read_ids(
    sources: list[Source], bucket: int, nodes: np.ndarray, stats: ReadStats, prune: bool
) -> pd.DataFrame:
    """(node, id) of ``nodes`` (all in node bucket ``bucket``), each read from its own snapshot's sealed ids
    file, only in the row groups that hold it. Reads of earlier snapshots are counted in ``stats``."""
    frames = []
    seqs = nodes >> np.int64(LOCAL_BITS)
    for source in sources:
        mine = np.unique(nodes[seqs == source.seq] & np.int64(LOCAL_MASK))
        counted = stats if source is not sources[-1] else None
        frame = read_rows(
            sealed_file(source.index_dir, "ids", bucket),
            {"ord": "int64", "id": "object"},
            "ord",
            mine,
            counted,
            prune,
        )
        frame["ord"] = frame["ord"] + (np.int64(source.seq) << np.int64(LOCAL_BITS))
        frames.append(frame.rename(columns={"ord": "node"}))
    return pd.concat(frames, ignore_index=True)


def init_nodes(task: NodeTask) -> ReadStats:
    """State of every node with an edge in this bucket: its own label and id, and its exact root."""
    stats = ReadStats()
    edges = read_edges(task.work_dir, task.bucket)
    nodes = pd.DataFrame({"node": np.unique(edges["src"].to_numpy(np.int64))})
    ids = read_ids(task.sources, task.bucket, nodes["node"].to_numpy(np.int64), stats, task.prune)
    state = nodes.merge(ids, on="node", how="left")
    state["label"] = state["node"]
    state["label_id"] = state["id"]
    roots = read_folder(
        join(task.work_dir, "exact", f"n{task.bucket:05d}"), {"node": "int64", "exact_root": "int64"}
    )
    state = state.merge(roots, on="node", how="left")
    state["exact_root"] = state["exact_root"].fillna(NONE).astype(np.int64)
    state["exact_root_id"] = pd.Series([None] * len(state), dtype=object)
    _write_state(state, task.work_dir, 0, task.bucket)
    return stats


def _write_state(state: pd.DataFrame, work_dir: str, round_: int, bucket: int) -> None:
    table = pa.Table.from_pandas(state, preserve_index=False).cast(
        pa.schema(
            [
                ("node", pa.int64()),
                ("id", pa.string()),
                ("label", pa.int64()),
                ("label_id", pa.string()),
                ("exact_root", pa.int64()),
                ("exact_root_id", pa.string()),
            ]
        )
    )
    write_parquet_atomic(state_path(work_dir, round_, bucket), table)


def send_labels(task: NodeTask) -> int:
    """Messages (receiver, label, label id, sender, sender id) along this bucket's out-edges."""
    state = read_parquet(state_path(task.work_dir, task.round, task.bucket)).to_pandas()
    edges = read_edges(task.work_dir, task.bucket)
    msgs = edges.merge(state[["node", "id", "label", "label_id"]], left_on="src", right_on="node")
    msgs = msgs[["dst", "label", "label_id", "src", "id"]]
    folder = join(task.work_dir, "msg", f"r{task.round:03d}")
    _write_by_node(msgs, "dst", task.buckets, folder, f"from-{task.bucket:05d}")
    return len(msgs)


def keep_smallest(task: NodeTask) -> int:
    """Each node keeps the smallest label it received; returns how many labels changed."""
    state = read_parquet(state_path(task.work_dir, task.round, task.bucket)).to_pandas()
    msgs = read_folder(
        join(task.work_dir, "msg", f"r{task.round:03d}", f"n{task.bucket:05d}"),
        {"dst": "int64", "label": "int64", "label_id": "object", "src": "int64", "id": "object"},
    )
    if task.round == 0 and len(msgs):
        # the exact root is always a direct neighbour (star edge of its exact-hash group): take its id
        sender = msgs[["dst", "src", "id"]].rename(columns={"dst": "node", "src": "exact_root"})
        sender = sender.drop_duplicates(["node", "exact_root"])
        state = state.merge(sender, on=["node", "exact_root"], how="left", suffixes=("", "_root"))
        state["exact_root_id"] = state["id_root"]
        state = state.drop(columns=["id_root"])
    changed = 0
    if len(msgs):
        best = msgs.sort_values(["dst", "label"]).drop_duplicates("dst")[["dst", "label", "label_id"]]
        best = best.rename(columns={"dst": "node", "label": "new_label", "label_id": "new_label_id"})
        state = state.merge(best, on="node", how="left")
        better = state["new_label"].notna() & (state["new_label"] < state["label"])
        changed = int(better.sum())
        state.loc[better, "label"] = state.loc[better, "new_label"]
        state.loc[better, "label_id"] = state.loc[better, "new_label_id"]
        state = state.drop(columns=["new_label", "new_label_id"])
    state["label"] = state["label"].astype(np.int64)
    _write_state(state, task.work_dir, task.round + 1, task.bucket)
    return changed
