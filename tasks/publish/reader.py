"""The consumer side: resolve ``latest`` (or a pinned version), check checksums, stream documents.

```python
from tasks.publish.reader import open_mixture

mix = open_mixture("s3://bucket/mixtures/web-en")          # or version="v3", or a local directory
mix.proportions("domain")                                  # {"Education": 0.31, ...} for weighted loaders
for doc in mix.iter_documents(expand=True):                # each document as often as the mixture says
    train_on(doc["text"])
```

A version is only ever read from its manifest, which is written last, so a reader never sees a half-written
version; every shard is checked against the manifest's sha256 before a single row is returned.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from tasks.publish.manifest import CLAIM, LATEST, MANIFEST, Manifest, ShardEntry, parse_version, version_label
from tasks.publish.objectstore import (
    LocalObjectStore,
    ObjectStore,
    ObjectStoreError,
    open_store,
    sha256_hex,
)
from tasks.publish.versions import ABANDONED, ABANDONED_AFTER_S, COMPLETE, scan_versions
from tasks.storage import validate_name


class ChecksumMismatch(ObjectStoreError):
    """A published file's bytes differ from what its manifest (or ``latest``) says."""


class VersionNotFound(ObjectStoreError, FileNotFoundError):
    pass


@dataclass(frozen=True)
class VersionInfo:
    number: int
    complete: bool
    state: str = COMPLETE  # "complete", "pending" or "abandoned" (see tasks.publish.versions)
    last_beat: float | None = None  # when an incomplete version's publisher was last seen alive

    @property
    def label(self) -> str:
        return version_label(self.number)

    def describe(self, now: float | None = None) -> str:
        """``complete`` / ``pending (last heartbeat 3 min ago)`` / ``abandoned (...)``."""
        if self.state == COMPLETE:
            return COMPLETE
        if self.last_beat is None:
            return f"{self.state} (no claim; quarry publish --gc removes it)"
        age = (time.time() if now is None else now) - self.last_beat
        ago = f"{age / 3600:.1f} h" if age >= 3600 else f"{max(age, 0) / 60:.0f} min"
        hint = "; quarry publish --gc removes it" if self.state == ABANDONED else ""
        return f"{self.state} (last heartbeat {ago} ago{hint})"


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    bytes: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _split(url: str) -> tuple[ObjectStore, str, str | None]:
    """``<target>/<name>[/v<N>]`` → (store at target, name, pinned label or None)."""
    cleaned = url.rstrip("/")
    head, _, last = cleaned.rpartition("/")
    pinned = None
    if parse_version(last) is not None:
        pinned = last
        head, _, last = head.rpartition("/")
    if not head or not last or head.endswith(":/"):
        raise ValueError(f"expected <target>/<mixture name>[/v<N>], got {url!r}")
    store = open_store(head)
    if isinstance(store, LocalObjectStore):
        local = os.path.join(store.root, last)
        if os.path.exists(local) and not os.path.isdir(local):
            raise ValueError(f"{local} is a file; give the published mixture's folder (<target>/<name>)")
    return store, validate_name(last, "mixture name"), pinned


def list_versions(url: str, abandoned_after_s: float = ABANDONED_AFTER_S) -> list[VersionInfo]:
    """The versions under ``url`` (``<target>/<name>``), lowest first. Incomplete versions are ``pending``
    while their publisher is alive and ``abandoned`` once it has been silent for ``abandoned_after_s``; empty
    prefixes (left by some S3 servers after a clean-up) are not versions."""
    store, name, _ = _split(url)
    now = time.time()
    return [
        VersionInfo(v.number, v.complete, v.state(now, abandoned_after_s), v.last_beat)
        for v in scan_versions(store, name)
    ]


def open_mixture(url: str, version: str | int = "latest", verify_manifest: bool = True) -> PublishedMixture:
    """Open a published mixture at ``url`` (``<target>/<name>``, or ``<target>/<name>/v<N>`` to pin).

    ``version`` is ``"latest"`` (default), ``"v<N>"`` or ``N``. The version is fixed when this returns: a
    publication that moves ``latest`` afterwards does not change what this object reads.
    """
    store, name, pinned = _split(url)
    wanted = pinned or _version_label(version)
    expected_sha = None
    if wanted == "latest":
        pointer = store.get_with_etag(f"{name}/{LATEST}")
        if pointer is None:
            raise VersionNotFound(f"{store.url_for(name)} has no published version yet (no 'latest')")
        try:
            data = json.loads(pointer[0])
            wanted = version_label(int(data["version"]))
        except (ValueError, TypeError, KeyError):
            raise ChecksumMismatch(f"{store.url_for(f'{name}/{LATEST}')} is not a valid pointer") from None
        expected_sha = str(data.get("manifest_sha256") or "") or None
    number = parse_version(wanted)
    if number is None:
        raise ValueError(f"version must be 'latest', 'v<N>' or N, got {version!r}")
    key = f"{name}/{wanted}/{MANIFEST}"
    try:
        raw = store.get(key)
    except FileNotFoundError:
        state = (
            "is not complete (being published, or abandoned)"
            if store.exists(f"{name}/{wanted}/{CLAIM}")
            else ("does not exist")
        )
        raise VersionNotFound(f"{store.url_for(f'{name}/{wanted}')} {state}") from None
    if verify_manifest and expected_sha and sha256_hex(raw) != expected_sha:
        raise ChecksumMismatch(f"{store.url_for(key)} does not match the sha256 recorded in 'latest'")
    try:
        manifest = Manifest.from_bytes(raw)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ChecksumMismatch(
            f"{store.url_for(key)} is not a valid manifest ({where}: {first['msg']})"
        ) from None
    if manifest.name != name or manifest.version != number:
        raise ChecksumMismatch(f"{store.url_for(key)} describes {manifest.name} {manifest.label}")
    return PublishedMixture(store, manifest)


def _version_label(version: str | int) -> str:
    """``"latest"``, ``"v3"``, ``"3"`` or ``3`` → ``"latest"`` / ``"v3"``; anything else is refused."""
    text = str(version).strip()
    if text == "latest":
        return text
    if text.isdigit():
        text = f"v{int(text)}"
    if parse_version(text) is None:
        raise ValueError(f"version must be 'latest', 'v<N>' or N (N >= 1), got {version!r}")
    return text


class PublishedMixture:
    """One immutable published version."""

    def __init__(self, store: ObjectStore, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self.prefix = f"{manifest.name}/{manifest.label}"

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def url(self) -> str:
        return self.store.url_for(self.prefix)

    def proportions(self, by: str = "domain") -> dict[str, float]:
        """Token proportions (repetitions included) per ``"domain"`` or per ``"source"`` (snapshot)."""
        return self.manifest.proportions(by)

    def shards(self, domains: Iterable[str] | None = None, annealing: bool = False) -> list[ShardEntry]:
        """The main mixture's shards, or with ``annealing=True`` the annealing mixture's (none without one)."""
        wanted = set(domains) if domains is not None else None
        listed = self.manifest.shards
        if annealing:
            listed = self.manifest.annealing.shards if self.manifest.annealing else []
        return [s for s in listed if wanted is None or s.domain in wanted]

    def shard_url(self, shard: ShardEntry) -> str:
        return self.store.url_for(f"{self.prefix}/{shard.path}")

    def read_shard(self, shard: ShardEntry, columns: Sequence[str] | None = None) -> pa.Table:
        """One shard as a table, after checking its size and sha256 against the manifest."""
        data = self.store.get(f"{self.prefix}/{shard.path}")
        if len(data) != shard.size or sha256_hex(data) != shard.sha256:
            raise ChecksumMismatch(f"{self.shard_url(shard)} does not match the manifest (size or sha256)")
        table = pq.read_table(io.BytesIO(data), columns=list(columns) if columns else None)
        if table.num_rows != shard.rows:
            raise ChecksumMismatch(
                f"{self.shard_url(shard)} has {table.num_rows} rows, manifest says {shard.rows}"
            )
        return table

    def iter_batches(
        self,
        columns: Sequence[str] | None = None,
        domains: Iterable[str] | None = None,
        annealing: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        for shard in self.shards(domains, annealing):
            yield from self.read_shard(shard, columns).to_batches()

    def iter_documents(
        self,
        columns: Sequence[str] = ("id", "text", "domain", "repetitions"),
        domains: Iterable[str] | None = None,
        expand: bool = False,
        annealing: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Documents as dicts. ``expand=True`` yields each one ``repetitions`` times (in place; shuffle
        downstream), otherwise once with its ``repetitions`` field. ``annealing=True``: the annealing
        mixture's documents."""
        wanted = list(dict.fromkeys([*columns, *(["repetitions"] if expand else [])]))
        for batch in self.iter_batches(wanted, domains, annealing):
            for row in batch.to_pylist():
                if expand:
                    for _ in range(int(row["repetitions"])):
                        yield {k: row[k] for k in columns}
                else:
                    yield row

    def verify(self) -> VerifyReport:
        """Download every file the manifest lists and check sizes, sha256s and row counts."""
        problems: list[str] = []
        checked = 0
        total = 0
        for shard in [*self.manifest.shards, *self.shards(annealing=True)]:
            try:
                self.read_shard(shard, columns=["id"])
            except (ChecksumMismatch, FileNotFoundError) as exc:
                problems.append(str(exc))
            checked += 1
            total += shard.size
        if self.manifest.report is not None:
            entry = self.manifest.report
            try:
                data = self.store.get(f"{self.prefix}/{entry.path}")
                if len(data) != entry.size or sha256_hex(data) != entry.sha256:
                    problems.append(f"{self.store.url_for(f'{self.prefix}/{entry.path}')} does not match")
            except FileNotFoundError as exc:
                problems.append(str(exc))
            checked += 1
            total += entry.size
        return VerifyReport(checked=checked, bytes=total, problems=tuple(problems))

    def report_html(self) -> str | None:
        """The version's HTML report, after checking its size and sha256 against the manifest."""
        entry = self.manifest.report
        if entry is None:
            return None
        data = self.store.get(f"{self.prefix}/{entry.path}")
        if len(data) != entry.size or sha256_hex(data) != entry.sha256:
            raise ChecksumMismatch(
                f"{self.store.url_for(f'{self.prefix}/{entry.path}')} does not match the manifest (size or sha256)"
            )
        return data.decode()
