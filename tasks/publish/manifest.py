"""The published manifest: the one file a training job needs to find, check and weight a mixture version.

Layout of a published mixture (``<target>`` is ``s3://bucket/prefix`` or a local directory)::

    <target>/<name>/latest                   {"version": N, "manifest_sha256": ...}  (moved last, by CAS)
    <target>/<name>/v<N>/claim.json          who claimed version N (created with If-None-Match / link)
    <target>/<name>/v<N>/shards/part-*.parquet
    <target>/<name>/v<N>/shards/annealing-*.parquet   optional: the annealing mixture (``annealing`` key)
    <target>/<name>/v<N>/report.html         optional, listed in the manifest
    <target>/<name>/v<N>/manifest.json       written last: a version exists iff its manifest exists
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.storage import validate_name

FORMAT = "quarry.mixture/1"
MANIFEST = "manifest.json"
CLAIM = "claim.json"
LATEST = "latest"
REPORT = "report.html"
SHARDS_DIR = "shards"
_VERSION = re.compile(r"^v([1-9][0-9]{0,8})$")


def version_label(number: int) -> str:
    if number < 1:
        raise ValueError(f"version numbers start at 1, got {number}")
    return f"v{number}"


def parse_version(label: str) -> int | None:
    """``"v12"`` → 12; anything else → None."""
    match = _VERSION.match(label)
    return int(match.group(1)) if match else None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GroupStats(_Frozen):
    """Counts for one domain or one source. ``tokens`` and ``documents`` count repetitions."""

    documents: int = Field(ge=0)
    unique_documents: int = Field(ge=0)
    tokens: int = Field(ge=0)
    unique_tokens: int = Field(ge=0)
    proportion: float = Field(ge=0.0, le=1.0)
    tokens_before: int | None = None
    proportion_before: float | None = None


class ShardEntry(_Frozen):
    path: str  # relative to the version directory
    domain: str
    rows: int = Field(ge=0)
    documents: int = Field(ge=0)  # rows weighted by repetitions
    tokens: int = Field(ge=0)  # n_tokens weighted by repetitions
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.split("/")
        if len(parts) != 2 or parts[0] != SHARDS_DIR:
            raise ValueError(f"shard path must be '{SHARDS_DIR}/<file>', got {value!r}")
        validate_name(parts[1], "shard file")
        return value


class FileEntry(_Frozen):
    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Lineage(_Frozen):
    model_config = ConfigDict(frozen=True, extra="allow")

    snapshots: list[str]
    stage_versions: dict[str, str] = Field(default_factory=dict)
    rater_versions: dict[str, str] = Field(default_factory=dict)
    fasttext_model_versions: list[str] = Field(default_factory=list)
    sweep_id: str | None = None
    mix_mode: str | None = None
    sampling_parameters: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    source_store: str | None = None


class Totals(_Frozen):
    documents: int = Field(ge=0)
    unique_documents: int = Field(ge=0)
    tokens: int = Field(ge=0)
    unique_tokens: int = Field(ge=0)
    shards: int = Field(ge=0)
    bytes: int = Field(ge=0)


class Annealing(_Frozen):
    """An annealing mixture released beside the main one (:mod:`tasks.methods.anneal`): the last ``fraction``
    of the training tokens are drawn from its shards, with its own domain proportions."""

    fraction: float = Field(gt=0.0, lt=1.0)
    mixture: str  # its name in the source store
    parameters: dict[str, Any] = Field(default_factory=dict)  # how it was made (e.g. hq_domains, upweight)
    totals: Totals
    domains: dict[str, GroupStats]
    shards: list[ShardEntry]

    def proportions(self) -> dict[str, float]:
        return {key: stats.proportion for key, stats in sorted(self.domains.items())}


class Manifest(_Frozen):
    format: str = FORMAT
    name: str
    version: int = Field(ge=1)
    created_at: str
    content_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    publisher: dict[str, str]
    lineage: Lineage
    totals: Totals
    domains: dict[str, GroupStats]
    sources: dict[str, GroupStats]
    source_field: str = "snapshot"
    shards: list[ShardEntry]
    report: FileEntry | None = None
    skipped: dict[str, int] = Field(default_factory=dict)
    validation: dict[str, Any] | None = None  # a validation gate's verdict; not part of the content digest
    annealing: Annealing | None = None  # an annealing mixture released with this one (part of the digest)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_name(value, "mixture name")

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value.split("/")[0] != FORMAT.split("/")[0]:
            raise ValueError(f"not a Quarry mixture manifest (format {value!r})")
        return value

    @property
    def label(self) -> str:
        return version_label(self.version)

    def to_bytes(self) -> bytes:
        data = self.model_dump(mode="json")
        if data.get("validation") is None:
            data.pop("validation", None)  # manifests without a verdict stay as they were
        if data.get("annealing") is None:
            data.pop("annealing", None)  # and so do manifests without an annealing mixture
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        return cls.model_validate_json(data)

    def proportions(self, by: str = "domain") -> dict[str, float]:
        """Token proportions (with repetitions) per domain or per source, summing to 1."""
        groups = self.domains if by == "domain" else self.sources if by == "source" else None
        if groups is None:
            raise ValueError(f"by must be 'domain' or 'source', got {by!r}")
        return {key: stats.proportion for key, stats in sorted(groups.items())}
