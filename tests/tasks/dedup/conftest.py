"""A two-snapshot store ingested from the real CC-derived JSONL samples, with planted duplicates: exact
copies (case / punctuation changed), one-word edits (near duplicates), chains and copies across snapshots."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from fixtures_dask import dask_tcp_cluster  # noqa: F401  (fixture)

from tasks.ingest import IngestConfig, run_ingest


def _docs(shared_data: Path, folder: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted((shared_data / "crawl" / "cc-derived-jsonl" / folder).glob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out.extend(json.loads(line) for line in fh if line.strip())
    return [d for d in out if len(str(d["text"]).split()) >= 120]


def _write(path: Path, docs: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d) + "\n")


def _doc(url: str, text: str) -> dict[str, object]:
    return {"id": url, "url": url, "text": text}


def _edit(text: str, at: float = 0.5) -> str:
    words = text.split(" ")
    i = int(len(words) * at)
    return " ".join([*words[:i], "indeed", *words[i + 1 :]])


@pytest.fixture(scope="session")
def two_snapshot_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("dedup-store")
    dolma = [str(d["text"]) for d in _docs(shared_data, "dolma")]
    olmo = [str(d["text"]) for d in _docs(shared_data, "olmo")]
    half = len(dolma) // 2
    snap1 = [_doc(f"https://one.example/{i}", t) for i, t in enumerate(dolma)]
    snap1_b = [
        _doc("https://one-copy.example/0", dolma[0].replace(",", " ,")),  # exact (normalised) copy
        _doc("https://one-near.example/1", _edit(dolma[1])),  # near copy within the snapshot
        _doc("https://one-near.example/1b", _edit(_edit(dolma[1]), 0.3)),  # chain through the near copy
    ]
    _write(root / "in" / "snap1" / "a.jsonl.gz", snap1[:half])
    _write(root / "in" / "snap1" / "b.jsonl.gz", snap1[half:] + snap1_b)
    snap2_a = [_doc(f"https://two.example/{i}", t) for i, t in enumerate(olmo)]
    snap2_b = [
        _doc("https://two-copy.example/2", dolma[2] + " "),  # exact copy of an earlier snapshot's document
        _doc("https://two-near.example/3", _edit(dolma[3])),  # near copy across snapshots
        _doc("https://two-near.example/1", _edit(dolma[1], 0.7)),  # joins snapshot 1's chain
        _doc("https://two-copy.example/o0", olmo[0]),  # exact copy inside snapshot 2
        _doc("https://two-near.example/o1", _edit(olmo[1], 0.2)),  # near copy inside snapshot 2
    ]
    _write(root / "in" / "snap2" / "a.jsonl.gz", snap2_a)
    _write(root / "in" / "snap2" / "b.jsonl.gz", snap2_b)
    store = root / "store"
    run_ingest(IngestConfig(input=str(root / "in" / "snap1"), store=str(store), workers=0))
    run_ingest(IngestConfig(input=str(root / "in" / "snap2"), store=str(store), workers=0), dedup=False)
    return store


@pytest.fixture
def store_copy(two_snapshot_store: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "store"
    shutil.copytree(two_snapshot_store, dest)
    return dest
