"""What to publish (:class:`PublishConfig`) and what a publication did (:class:`PublishResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.publish.manifest import Lineage, Manifest, version_label
from tasks.runner import ClusterConfig
from tasks.storage import validate_name


@dataclass(frozen=True)
class PublishConfig:
    """What to publish and where. ``target`` is ``s3://bucket/prefix`` or a local directory; the version lands
    in ``<target>/<name>/v<N>/``. Credentials come from the environment (boto3's chain), never from here."""

    store: str
    name: str
    target: str
    dry_run: bool = False
    report: bool = True
    max_rows_per_shard: int = 100_000
    max_missing_fraction: float = 0.0
    sweep_id: str | None = None
    extra_lineage: Mapping[str, str] = field(default_factory=dict)
    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig(n_workers=0))
    published_name: str | None = None  # the release's name at the target; default: the mixture's name
    # Whether ``latest`` advances once the version is written. False: the version is complete and readable
    # by its number, but ``latest`` stays (a validation gate holds it back; republishing the same content
    # later with promote=True advances ``latest`` to it without writing anything).
    promote: bool = True
    # A validation verdict recorded in manifest.json as ``validation``. It is not part of the content digest:
    # the same data republished with another verdict is the same version (manifests are immutable, so the
    # first verdict stays in the manifest; the later call's ``promote`` decides whether ``latest`` moves).
    validation: dict[str, Any] | None = None
    # An annealing mixture (a mixture name in the same store, e.g. written by
    # :func:`tasks.methods.anneal.write_annealing_mixture`) released beside this one in the same version: its
    # shards are ``shards/annealing-*.parquet`` and the manifest's ``annealing`` key gives its share of the
    # training tokens (``annealing_fraction``; default: the one its summary records) and its domain proportions.
    annealing: str | None = None
    annealing_fraction: float | None = None

    @property
    def release(self) -> str:
        return self.published_name or self.name

    def __post_init__(self) -> None:
        validate_name(self.name, "mixture name")
        if self.published_name is not None:
            validate_name(self.published_name, "published name")
        if not self.store:
            raise ValueError("store is required")
        if not self.target:
            raise ValueError("target is required (s3://bucket/prefix or a local directory)")
        if "@" in self.target.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError("put no credentials in the target URL; use the environment")
        if self.max_rows_per_shard < 1:
            raise ValueError("max_rows_per_shard must be >= 1")
        if not 0.0 <= self.max_missing_fraction <= 1.0:
            raise ValueError("max_missing_fraction must be within [0, 1]")
        if self.sweep_id is not None:
            validate_name(self.sweep_id, "sweep id")
        if self.annealing is not None:
            validate_name(self.annealing, "annealing mixture name")
        if self.annealing_fraction is not None and (
            self.annealing is None or not 0.0 < self.annealing_fraction < 1.0
        ):
            raise ValueError("annealing_fraction needs an annealing mixture and must lie within (0, 1)")
        for key in self.extra_lineage:
            validate_name(key, "lineage key")
            if key in Lineage.model_fields:
                raise ValueError(f"extra lineage key {key!r} would replace a standard lineage field")


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: int
    url: str  # the version's directory URL
    manifest: Manifest
    dry_run: bool
    already_published: bool
    resumed: bool
    latest_version: int | None  # what ``latest`` points at after this call (None in a dry run)

    def summary(self) -> dict[str, Any]:
        return {
            "mixture": self.name,
            "version": self.manifest.label,
            "url": self.url,
            "dry run": self.dry_run,
            "already published": self.already_published,
            "resumed": self.resumed,
            "latest": version_label(self.latest_version) if self.latest_version else "-",
            "shards": self.manifest.totals.shards,
            "unique documents": self.manifest.totals.unique_documents,
            "documents (with repetitions)": self.manifest.totals.documents,
            "tokens (with repetitions)": self.manifest.totals.tokens,
            "bytes": self.manifest.totals.bytes,
        }
