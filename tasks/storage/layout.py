"""Where everything lives in a Quarry store. One class, so no stage invents its own paths.

```
<root>/documents/<snapshot>/<shard>.parquet           text + metadata, written once
<root>/attributes/<name>/<snapshot>/<shard>.parquet   aligned by ``id``; scores never rewrite text
<root>/removed/<snapshot>/<shard>.parquet             filtered-out documents with their drop reason
<root>/quarantine/<snapshot>/<shard>.parquet          unreadable records: file, offset, reason
<root>/minhash/<snapshot>/<shard>.parquet             MinHash signatures for the snapshot-wide dedup
<root>/stats/<stage>/<snapshot>/<shard>.json          per-shard counters and timings
<root>/_markers/<stage>/<scope>/<shard>.done          completion markers (resumable, idempotent stages)
<root>/ratings/ models/<version>/ sweeps/<id>/ mixtures/<name>/ reports/
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tasks.storage.fs import join

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def validate_name(value: str, what: str = "name") -> str:
    """Reject names that could escape a prefix when used inside an object key or path."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise ValueError(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' and '-' (no '..', no '/', "
            "must start with a letter or digit, at most 200 characters)"
        )
    return value


@dataclass(frozen=True)
class Store:
    """A Quarry data store rooted at a local directory or an ``s3://bucket/prefix`` URL."""

    root: str

    def path(self, *parts: str) -> str:
        return join(self.root, *parts)

    # documents and their attributes -------------------------------------------------------------
    def documents(self, snapshot: str) -> str:
        return self.path("documents", validate_name(snapshot, "snapshot"))

    def document_shard(self, snapshot: str, shard: str) -> str:
        return join(self.documents(snapshot), f"{validate_name(shard, 'shard')}.parquet")

    def attributes(self, name: str, snapshot: str) -> str:
        return self.path(
            "attributes", validate_name(name, "attribute set"), validate_name(snapshot, "snapshot")
        )

    def attribute_shard(self, name: str, snapshot: str, shard: str) -> str:
        return join(self.attributes(name, snapshot), f"{validate_name(shard, 'shard')}.parquet")

    def removed_shard(self, snapshot: str, shard: str) -> str:
        return self.path(
            "removed", validate_name(snapshot, "snapshot"), f"{validate_name(shard, 'shard')}.parquet"
        )

    def minhash_shard(self, snapshot: str, shard: str) -> str:
        """MinHash signatures of a documents shard, read by the snapshot-wide dedup."""
        return self.path(
            "minhash", validate_name(snapshot, "snapshot"), f"{validate_name(shard, 'shard')}.parquet"
        )

    def quarantine_shard(self, snapshot: str, shard: str) -> str:
        return self.path(
            "quarantine", validate_name(snapshot, "snapshot"), f"{validate_name(shard, 'shard')}.parquet"
        )

    def stats(self, stage: str, snapshot: str) -> str:
        return self.path("stats", validate_name(stage, "stage"), validate_name(snapshot, "snapshot"))

    def stats_shard(self, stage: str, snapshot: str, shard: str) -> str:
        return join(self.stats(stage, snapshot), f"{validate_name(shard, 'shard')}.json")

    def markers(self, stage: str, scope: str) -> str:
        return self.path("_markers", validate_name(stage, "stage"), validate_name(scope, "scope"))

    def documents_version(self, snapshot: str, shard: str) -> str:
        """The version of a documents shard, from its ingest completion marker (what the shard was made
        from). Stages downstream record it in their own markers and redo a shard whose documents changed.
        '' for a shard that is not done."""
        from tasks.storage.markers import CompletionMarkers

        markers = CompletionMarkers(self.markers("ingest", snapshot))
        if not markers.is_done(shard):
            return ""
        return str(markers.info(shard).get("version", ""))

    def corpus_version(self, snapshots: list[str] | tuple[str, ...]) -> str:
        """One digest of every finished documents shard's version in ``snapshots``: changes when any shard is
        re-ingested, added or removed, so what is derived from the whole corpus (a mixture) is made anew."""
        import hashlib
        import json

        from tasks.storage.markers import CompletionMarkers

        state: list[tuple[str, str, str]] = []
        for snapshot in sorted(snapshots):
            markers = CompletionMarkers(self.markers("ingest", snapshot))
            for shard in sorted(markers.done()):
                state.append((snapshot, shard, str(markers.info(shard).get("version", ""))))
        return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]

    def snapshots(self) -> list[str]:
        """Snapshots that have documents, in name order (Common Crawl ids sort chronologically)."""
        from tasks.storage.fs import list_dirs

        return list_dirs(self.path("documents"))

    # later stages -------------------------------------------------------------------------------
    def ratings(self) -> str:
        return self.path("ratings")

    def models(self, version: str) -> str:
        return self.path("models", validate_name(version, "model version"))

    def sweeps(self, sweep_id: str) -> str:
        return self.path("sweeps", validate_name(sweep_id, "sweep id"))

    def mixtures(self, name: str) -> str:
        return self.path("mixtures", validate_name(name, "mixture name"))

    def reports(self) -> str:
        return self.path("reports")
