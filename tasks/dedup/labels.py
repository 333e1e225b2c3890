"""The history's components as stored labels, so a night never recomputes earlier snapshots' links.

When a snapshot's night completes it writes ``dedup-index/<snapshot>/parent/b<bucket>.parquet`` (rows
``node, parent, size``, split by the node's bucket, sorted by node): for each of its documents in a
component, ``parent`` = the component's smallest ordinal (the kept document); for each earlier component
root the night merged into a smaller one, ``parent`` = the new root; and for each root of a component of
the night ``parent`` = -1 with ``size`` = the component's size over all snapshots so far. The latest row
of a node (highest snapshot position) wins; a node without a row is its own root with size 1. Parents
always point at a smaller ordinal, so following them ends at the root of the node's history component.

A night therefore looks up only the earlier documents its keys hit (``lookup_parents``: the parent chains,
row groups probed), adds each parent link as an edge, and propagates labels over that small graph.
``cluster_sizes`` sums each new component's size; ``emit_labels`` writes the snapshot's duplicates and
cluster sizes and its parent file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from tasks.dedup.graph import NONE, Source, _write_by_node, read_folder, state_path
from tasks.dedup.partition import LOCAL_BITS, LOCAL_MASK, ROW_BITS, sealed_file
from tasks.dedup.probe import ReadStats, read_rows, write_sorted
from tasks.storage import read_parquet, write_parquet_atomic
from tasks.storage.fs import join, list_files

PARENT = "parent"
PARENT_COLUMNS = {"node": "int64", "parent": "int64", "size": "int64"}
LOOKUP_COLUMNS = {"node": "int64", "parent": "int64", "size": "int64"}


def _looked_up(work_dir: str, here: str, before: int | None = None) -> pd.DataFrame:
    """The lookup rows of this bucket from rounds before ``before`` (all rounds when None): a retried task
    never counts its own round's earlier attempt as seen."""
    frames = [
        read_parquet(path).to_pandas()
        for path in list_files(join(work_dir, "lookup", here), (".parquet",))
        if before is None or int(path.rsplit("/r", 1)[1].split(".")[0]) < before
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in LOOKUP_COLUMNS.items()})
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class LookupTask:
    sources: list[Source]  # earlier snapshots first, the current one last
    bucket: int
    buckets: int
    work_dir: str
    round: int
    prune: bool = True


def lookup_parents(task: LookupTask) -> tuple[int, ReadStats]:
    """Look up the stored parent of this round's earlier nodes in this bucket; write the parent links as
    edges (``chain/``), the parents as the next round's nodes, and each node's row (``lookup/``).
    Round 0's nodes are the earlier documents the key edges touched. Returns (parents found, reads)."""
    stats = ReadStats()
    *earlier, current = task.sources
    here = f"n{task.bucket:05d}"
    if task.round == 0:  # key edges only: other buckets' round-0 tasks are writing chain edges meanwhile
        src = read_folder(join(task.work_dir, "edges", here), {"src": "int64"})["src"].to_numpy(np.int64)
        nodes = src[(src >> np.int64(LOCAL_BITS)) < current.seq]
    else:
        folder = join(task.work_dir, "frontier", f"r{task.round:03d}", here)
        nodes = read_folder(folder, {"node": "int64"})["node"].to_numpy(np.int64)
    nodes = np.setdiff1d(
        np.unique(nodes), _looked_up(task.work_dir, here, task.round)["node"].to_numpy(np.int64)
    )
    frames = []
    for source in earlier:
        found = read_rows(
            sealed_file(source.index_dir, PARENT, task.bucket),
            PARENT_COLUMNS,
            "node",
            nodes,
            stats,
            task.prune,
        )
        found["seq"] = source.seq
        frames.append(found)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*PARENT_COLUMNS, "seq"])
    rows = rows.sort_values(["node", "seq"]).drop_duplicates("node", keep="last")
    result = pd.DataFrame({"node": nodes}).merge(rows[list(PARENT_COLUMNS)], on="node", how="left")
    result["parent"] = result["parent"].fillna(NONE).astype(np.int64)
    result["size"] = result["size"].fillna(1).astype(np.int64)
    write_parquet_atomic(
        join(task.work_dir, "lookup", here, f"r{task.round:03d}.parquet"),
        pa.Table.from_pandas(result, preserve_index=False),
    )
    linked = result[result["parent"] != NONE]
    src, dst = linked["node"].to_numpy(np.int64), linked["parent"].to_numpy(np.int64)
    edges = pd.DataFrame({"src": np.concatenate([src, dst]), "dst": np.concatenate([dst, src])})
    name = f"r{task.round:03d}-{here}"
    _write_by_node(edges, "src", task.buckets, join(task.work_dir, "chain"), name)
    frontier = join(task.work_dir, "frontier", f"r{task.round + 1:03d}")
    _write_by_node(pd.DataFrame({"node": dst}), "node", task.buckets, frontier, f"from-{here}")
    return len(linked), stats


@dataclass(frozen=True)
class SizeTask:
    bucket: int
    buckets: int
    work_dir: str
    round: int
    current_seq: int


def size_parts(task: SizeTask) -> int:
    """Each node's share of its component's size, sent to the component root's bucket: 1 per current
    document, the stored size per earlier root (earlier non-roots are counted in their root's size)."""
    here = f"n{task.bucket:05d}"
    state = read_parquet(state_path(task.work_dir, task.round, task.bucket), ["node", "label"]).to_pandas()
    lookup = _looked_up(task.work_dir, here)
    node = state["node"].to_numpy(np.int64)
    current = (node >> np.int64(LOCAL_BITS)) == task.current_seq
    roots = lookup[lookup["parent"] == NONE][["node", "size"]]
    part = state.merge(roots, on="node", how="left")
    part["size"] = np.where(current, 1, part["size"].fillna(0).to_numpy()).astype(np.int64)
    part["current"] = current
    part = part[part["size"] > 0][["label", "node", "size", "current"]]
    _write_by_node(part, "label", task.buckets, join(task.work_dir, "sizes", "in"), f"from-{here}")
    return len(part)


def cluster_sizes(task: SizeTask) -> int:
    """Sum the shares of each root in this bucket: the root's new size row, and each current member's size
    sent to that member's bucket. Returns the number of components."""
    here = f"n{task.bucket:05d}"
    parts = read_folder(
        join(task.work_dir, "sizes", "in", here),
        {"label": "int64", "node": "int64", "size": "int64", "current": "bool"},
    )
    total = parts.groupby("label", as_index=False)["size"].sum()
    roots = pd.DataFrame({"node": total["label"], "parent": NONE, "size": total["size"]}).astype(
        PARENT_COLUMNS
    )
    write_parquet_atomic(
        join(task.work_dir, "sizes", "roots", f"{here}.parquet"),
        pa.Table.from_pandas(roots, preserve_index=False),
    )
    members = parts[parts["current"]][["node", "label"]].merge(
        total.rename(columns={"size": "cluster_size"}), on="label"
    )
    _write_by_node(
        members[["node", "cluster_size"]],
        "node",
        task.buckets,
        join(task.work_dir, "sizes", "out"),
        f"from-{here}",
    )
    return len(total)


@dataclass(frozen=True)
class EmitTask:
    bucket: int
    work_dir: str
    round: int
    current_seq: int
    index_dir: str  # the current snapshot's index: its parent file goes there
    row_group_rows: int


def emit_labels(task: EmitTask) -> int:
    """The current snapshot's documents in this bucket that are in a component (duplicates and kept ones,
    with cluster sizes), written per current shard index; and the bucket's parent file. Returns duplicates."""
    here = f"n{task.bucket:05d}"
    state = read_parquet(state_path(task.work_dir, task.round, task.bucket)).to_pandas()
    sizes = read_folder(join(task.work_dir, "sizes", "out", here), {"node": "int64", "cluster_size": "int64"})
    node = state["node"].to_numpy(np.int64)
    label = state["label"].to_numpy(np.int64)
    current = (node >> np.int64(LOCAL_BITS)) == task.current_seq
    out = state[current].merge(sizes, on="node", how="left")
    out_node = out["node"].to_numpy(np.int64)
    duplicate = out["label"].to_numpy(np.int64) < out_node
    exact = out["exact_root"].to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "shard_index": (out_node & LOCAL_MASK) >> np.int64(ROW_BITS),
            "row": out_node & np.int64((1 << ROW_BITS) - 1),
            "duplicate": duplicate,
            "label_id": np.where(duplicate, out["label_id"].to_numpy(object), None),
            "exact_root_id": np.where(
                duplicate & (exact != NONE), out["exact_root_id"].to_numpy(object), None
            ),
            "cluster_size": out["cluster_size"].fillna(1).astype(np.int64).to_numpy(),
        }
    )
    for shard_index, part in frame.groupby("shard_index"):
        path = join(task.work_dir, "out", f"s{int(shard_index):07d}", f"{here}.parquet")
        write_parquet_atomic(path, pa.Table.from_pandas(part, preserve_index=False))
    # parent rows: current non-roots, earlier roots merged into a smaller root, and every root's new size
    lookup = _looked_up(task.work_dir, here)
    was_root = np.isin(node, lookup.loc[lookup["parent"] == NONE, "node"].to_numpy(np.int64))
    moved = (label < node) & (current | was_root)
    links = pd.DataFrame(
        {"node": node[moved], "parent": label[moved], "size": np.zeros(int(moved.sum()), np.int64)}
    )
    roots = read_parquet(join(task.work_dir, "sizes", "roots", f"{here}.parquet")).to_pandas()
    rows = pd.concat([links, roots], ignore_index=True).astype(PARENT_COLUMNS).sort_values("node")
    table = pa.Table.from_pandas(rows, preserve_index=False)
    write_sorted(sealed_file(task.index_dir, PARENT, task.bucket), table, task.row_group_rows)
    return int(duplicate.sum())
