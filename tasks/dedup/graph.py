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

from tasks.dedup.partition import LOCAL_BITS, LOCAL_MASK, ROW_BITS, node_bucket
from tasks.storage import read_parquet, write_parquet_atomic
from tasks.storage.fs import join, list_files

NONE = -1


@dataclass(frozen=True)
class Source:
    """One snapshot's index folder and its position among the snapshots of this run."""

    index_dir: str
    seq: int


def _read_bucket(sources: list[Source], kind: str, bucket: int, columns: list[str]) -> pd.DataFrame:
    frames: list[pd.DataFrame] = []
    for source in sources:
        for path in list_files(join(source.index_dir, kind, f"b{bucket:05d}"), (".parquet",)):
            frame = read_parquet(path, columns=columns).to_pandas()
            frame["ord"] = frame["ord"].astype(np.int64) + (np.int64(source.seq) << np.int64(LOCAL_BITS))
            frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
    return pd.concat(frames, ignore_index=True)


def _write_by_node(frame: pd.DataFrame, column: str, buckets: int, folder: str, name: str) -> None:
    """Write ``frame`` split by the node bucket of ``column`` into ``folder/n<bucket>/<name>.parquet``."""
    bucket = node_bucket(frame[column].to_numpy(np.int64), buckets)
    for b in range(buckets):
        part = frame[bucket == b]
        write_parquet_atomic(
            join(folder, f"n{b:05d}", f"{name}.parquet"), pa.Table.from_pandas(part, preserve_index=False)
        )


@dataclass(frozen=True)
class GroupTask:
    sources: list[Source]
    kind: str
    bucket: int
    buckets: int
    work_dir: str
    current_seq: int
    exact_roots: bool


def group_bucket(task: GroupTask) -> int:
    """Star edges of every key shared by several documents in this bucket; returns the edge count.
    For the exact kind also each current document's exact root (smallest ordinal with the same text)."""
    frame = _read_bucket(task.sources, task.kind, task.bucket, ["key", "ord"])
    keys = frame["key"].to_numpy().astype(np.uint64)
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
        current = (src >> np.int64(LOCAL_BITS)) == task.current_seq
        roots = pd.DataFrame({"node": src[current], "exact_root": dst[current]})
        _write_by_node(roots, "node", task.buckets, join(task.work_dir, "exact"), name)
    return len(src)


@dataclass(frozen=True)
class NodeTask:
    sources: list[Source]
    bucket: int
    buckets: int
    work_dir: str
    round: int = 0


def _state_path(work_dir: str, round_: int, bucket: int) -> str:
    return join(work_dir, "state", f"r{round_:03d}", f"n{bucket:05d}.parquet")


def _read_folder(folder: str, columns: dict[str, str]) -> pd.DataFrame:
    frames = [read_parquet(p).to_pandas() for p in list_files(folder, (".parquet",))]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.concat(frames, ignore_index=True)


def init_nodes(task: NodeTask) -> int:
    """State of every node with an edge in this bucket: its own label and id, and its exact root."""
    edges = _read_folder(
        join(task.work_dir, "edges", f"n{task.bucket:05d}"), {"src": "int64", "dst": "int64"}
    )
    nodes = pd.DataFrame({"node": np.unique(edges["src"].to_numpy(np.int64))})
    ids = _read_bucket(task.sources, "ids", task.bucket, ["ord", "id"]).rename(columns={"ord": "node"})
    state = nodes.merge(ids, on="node", how="left")
    state["label"] = state["node"]
    state["label_id"] = state["id"]
    roots = _read_folder(
        join(task.work_dir, "exact", f"n{task.bucket:05d}"), {"node": "int64", "exact_root": "int64"}
    )
    state = state.merge(roots, on="node", how="left")
    state["exact_root"] = state["exact_root"].fillna(NONE).astype(np.int64)
    state["exact_root_id"] = pd.Series([None] * len(state), dtype=object)
    _write_state(state, task.work_dir, 0, task.bucket)
    return len(state)


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
    write_parquet_atomic(_state_path(work_dir, round_, bucket), table)


def send_labels(task: NodeTask) -> int:
    """Messages (receiver, label, label id, sender, sender id) along this bucket's out-edges."""
    state = read_parquet(_state_path(task.work_dir, task.round, task.bucket)).to_pandas()
    edges = _read_folder(
        join(task.work_dir, "edges", f"n{task.bucket:05d}"), {"src": "int64", "dst": "int64"}
    )
    msgs = edges.merge(state[["node", "id", "label", "label_id"]], left_on="src", right_on="node")
    msgs = msgs[["dst", "label", "label_id", "src", "id"]]
    folder = join(task.work_dir, "msg", f"r{task.round:03d}")
    _write_by_node(msgs, "dst", task.buckets, folder, f"from-{task.bucket:05d}")
    return len(msgs)


def keep_smallest(task: NodeTask) -> int:
    """Each node keeps the smallest label it received; returns how many labels changed."""
    state = read_parquet(_state_path(task.work_dir, task.round, task.bucket)).to_pandas()
    msgs = _read_folder(
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


@dataclass(frozen=True)
class FinalTask:
    bucket: int
    work_dir: str
    round: int
    current_seq: int


def emit_duplicates(task: FinalTask) -> int:
    """Duplicates of the current snapshot in this bucket, written per current shard index."""
    state = read_parquet(_state_path(task.work_dir, task.round, task.bucket)).to_pandas()
    node = state["node"].to_numpy(np.int64)
    keep = ((node >> np.int64(LOCAL_BITS)) == task.current_seq) & (state["label"].to_numpy(np.int64) < node)
    out = state[keep]
    exact = out["exact_root"].to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "shard_index": (out["node"].to_numpy(np.int64) & LOCAL_MASK) >> np.int64(ROW_BITS),
            "row": out["node"].to_numpy(np.int64) & np.int64((1 << ROW_BITS) - 1),
            "label_id": out["label_id"].to_numpy(object),
            "exact_root_id": np.where(exact != NONE, out["exact_root_id"].to_numpy(object), None),
        }
    )
    for shard_index, part in frame.groupby("shard_index"):
        path = join(task.work_dir, "out", f"s{int(shard_index):07d}", f"n{task.bucket:05d}.parquet")
        write_parquet_atomic(path, pa.Table.from_pandas(part, preserve_index=False))
    return len(frame)
