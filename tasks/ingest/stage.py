"""The ingest stage: plan shards, run them on Dask, then deduplicate the snapshot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tasks.ingest.config import IngestConfig
from tasks.ingest.dedup import DedupResult, run_dedup
from tasks.ingest.discover import discover
from tasks.ingest.shard import STAGE, ShardSpec
from tasks.ingest.unreadable import ingest_or_quarantine
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import Store, remove_stale_temps, write_json_atomic


@dataclass
class IngestResult:
    snapshot: str
    shards: int
    shards_skipped: int
    documents: int
    tokens: int
    counts: dict[str, int]
    filter_drops: dict[str, int]
    dedup: DedupResult | None
    ignored_files: list[str] = field(default_factory=list)
    recipe: str = ""  # the filtering recipe the shards ran (tasks.ingest.recipes)
    quarantined_files: list[dict[str, Any]] = field(default_factory=list)  # unreadable after retries
    ignored_count: int = 0
    files_listed: int = 0  # ingestible files of the chosen format before sampling
    other_format_files: int = 0  # WARC or WET files left out: the other format was chosen
    listing: str = ""  # the published listing (warc.paths.gz / wet.paths.gz) files were selected from

    def summary(self) -> dict[str, Any]:
        rows: dict[str, Any] = {
            "snapshot": self.snapshot,
            "recipe": self.recipe,
            "shards": self.shards,
            "shards already done": self.shards_skipped,
            "records read": self.counts.get("records", 0),
            "documents kept": self.documents,
            "tokens kept": self.tokens,
            "removed by filters": self.counts.get("removed", 0),
            "quarantined records": self.counts.get("quarantined", 0),
            **{f"  {k}": v for k, v in sorted(self.counts.items()) if k.startswith("quarantined:")},
            "skipped bytes": self.counts.get("skipped_bytes", 0),
            "skipped records": sum(v for k, v in self.counts.items() if k.startswith("skipped:")),
            "ignored files": max(len(self.ignored_files), self.ignored_count),
            "files listed": self.files_listed,
            "other-format files left out": self.other_format_files,
            "quarantined files": self.counts.get("quarantined_files", 0),
            **{f"  {k}": v for k, v in sorted(self.counts.items()) if k.startswith("quarantined_file:")},
        }
        if self.listing:
            rows["listing"] = self.listing
        if self.dedup is not None:
            rows["exact duplicates"] = self.dedup.exact_duplicates
            rows["fuzzy duplicates"] = self.dedup.fuzzy_duplicates
        return rows


def plan_shards(config: IngestConfig) -> list[ShardSpec]:
    found = discover(config.input, config.snapshot, config.select)
    return [ShardSpec(f, found.snapshot, config) for f in found.files]


def run_ingest(config: IngestConfig, dedup: bool = True) -> IngestResult:
    """Ingest every selected file of the snapshot (skipping completed shards; a file that stays unreadable
    after retries is quarantined and the others go on), then dedup the snapshot."""
    found = discover(config.input, config.snapshot, config.select)
    remove_ingest_temps(Store(config.store), found.snapshot)
    specs = [ShardSpec(f, found.snapshot, config) for f in found.files]
    cluster = ClusterConfig(address=config.scheduler, n_workers=config.workers)
    if cluster.address is None:
        cluster = ClusterConfig.from_env(config.workers)
    results = run_shards(
        ingest_or_quarantine,
        specs,
        names=[s.file.shard for s in specs],
        cluster=cluster,
        description="ingest",
    )
    result = summarise(found.snapshot, results)
    result.ignored_files = found.ignored
    result.ignored_count = found.ignored_count
    result.files_listed = found.candidates
    result.other_format_files = found.other_format
    result.listing = found.listing
    if dedup:
        result.dedup = run_dedup(config.store, found.snapshot, config.dedup)
    write_json_atomic(
        Store(config.store).path("stats", "ingest", found.snapshot, "_summary.json"), result.summary()
    )
    return result


def remove_ingest_temps(store: Store, snapshot: str) -> int:
    """Remove what killed ingest writers of this snapshot left behind (live writers' files are kept)."""
    folders = [
        store.documents(snapshot),
        store.attributes("heuristics", snapshot),
        store.attributes("c4_text", snapshot),
        store.path("removed", snapshot),
        store.path("quarantine", snapshot),
        store.path("minhash", snapshot),
        store.stats(STAGE, snapshot),
        store.markers(STAGE, snapshot),
    ]
    return sum(remove_stale_temps(folder) for folder in folders)


def summarise(snapshot: str, shard_stats: list[dict[str, Any]]) -> IngestResult:
    counts: Counter[str] = Counter()
    drops: Counter[str] = Counter()
    for stats in shard_stats:
        counts.update(stats.get("counts", {}))
        drops.update(stats.get("filters", {}).get("dropped", {}))
    recipes = sorted({str(s["recipe"]["name"]) for s in shard_stats if isinstance(s.get("recipe"), dict)})
    return IngestResult(
        snapshot=snapshot,
        recipe=", ".join(recipes),
        shards=len(shard_stats),
        shards_skipped=sum(1 for s in shard_stats if s.get("skipped_done")),
        documents=sum(int(s.get("documents", 0)) for s in shard_stats),
        tokens=sum(int(s.get("tokens", 0)) for s in shard_stats),
        counts=dict(counts),
        filter_drops=dict(drops),
        dedup=None,
        quarantined_files=[s["quarantined_file"] for s in shard_stats if s.get("quarantined_file")],
    )
