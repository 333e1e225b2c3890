"""Publish a mixture as an immutable, numbered version; move ``latest`` last.

Protocol (the same on S3 and on a local directory, see :mod:`tasks.publish.objectstore`):

1. Materialise the mixture into Parquet shards in a local staging directory (deterministic bytes) and
   compute a ``content_digest`` over the shards' sha256s, the lineage and the counts.
2. Scan ``<name>/v*/``: a complete version (it has ``manifest.json``) whose claim carries the same digest
   means this exact mixture is already published: nothing is written (only ``latest`` is repaired if it lags).
   An incomplete version claimed with the same digest (an earlier run that died) is resumed.
3. Otherwise claim ``v<N+1>`` by creating ``v<N+1>/claim.json`` only-if-absent (S3 ``If-None-Match: *``; local
   ``link(2)``). Losing the race moves on to the next number. The claim is read back and its publisher id
   checked (read-after-write), and the backend is probed once for honouring preconditions at all.
4. Upload the shards (and the report), then create ``manifest.json`` only-if-absent. Readers only ever look at
   versions that have a manifest, so a publisher killed before this point leaves no visible version.
5. Move ``latest`` forward with compare-and-swap (S3 ``If-Match: <etag>``; local lock + compare + rename),
   never backwards: if another publisher already pointed it at a newer version, it stays.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import tasks
from tasks.progress import progress_bar
from tasks.publish.manifest import (
    CLAIM,
    FORMAT,
    LATEST,
    MANIFEST,
    REPORT,
    SHARDS_DIR,
    FileEntry,
    GroupStats,
    Lineage,
    Manifest,
    ShardEntry,
    Totals,
    parse_version,
    version_label,
)
from tasks.publish.mixture import (
    MixtureInput,
    load_mixture,
    materialise_source_shard,
    source_shard_tasks,
    summary_domains_before,
)
from tasks.publish.objectstore import (
    ObjectStore,
    ObjectStoreError,
    S3ObjectStore,
    open_store,
    sha256_file,
    sha256_hex,
)
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import Store, validate_name

log = logging.getLogger(__name__)

FAILPOINT_ENV = "QUARRY_PUBLISH_FAILPOINT"  # "stall-after-shards:K": crash tests stop a real publisher there
_MAX_CLAIM_ATTEMPTS = 1000
_MAX_CAS_ATTEMPTS = 50


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


@dataclass(frozen=True)
class _Staged:
    path: str
    entry: ShardEntry


@dataclass(frozen=True)
class VersionState:
    number: int
    complete: bool
    claim: dict[str, Any] | None


# ------------------------------------------------------------------------------------------- entry point
def publish_mixture(config: PublishConfig) -> PublishResult:
    store = Store(config.store)
    target = open_store(config.target)
    mixture = load_mixture(store, config.name)
    tasks_ = source_shard_tasks(store, mixture)
    results = run_shards(
        materialise_source_shard,
        tasks_,
        names=[f"{t.snapshot}-{t.shard}" for t in tasks_],
        cluster=config.cluster,
        description=f"publish {config.name}: read documents",
    )
    missing = sum(r.missing for r in results)
    total_rows = sum(len(t.rows) for t in tasks_)
    if total_rows and missing / total_rows > config.max_missing_fraction:
        raise ValueError(
            f"mixture {config.name!r} references {missing} of {total_rows} documents that are not in the "
            f"store {store.root} (allowed fraction {config.max_missing_fraction}); re-run ingest or mix"
        )
    tables = [r.table for r in results if len(r.table)]
    if not tables:
        raise ValueError(f"mixture {config.name!r}: none of its documents were found in {store.root}")
    table = pa.concat_tables(tables).sort_by([("domain", "ascending"), ("id", "ascending")])
    model_versions = sorted({v for r in results for v in r.model_versions})
    lineage = _lineage(config, store, mixture, table, model_versions)

    with tempfile.TemporaryDirectory(prefix=f"quarry-publish-{config.release}-") as staging:
        staged = _stage_shards(table, staging, config.max_rows_per_shard)
        domains, sources, totals = _stats(table, staged, mixture.summary)
        skipped = {"missing_documents": missing, "zero_repetition_rows": mixture.zero_repetition_rows}
        digest = _content_digest(config.release, staged, lineage, domains, sources, skipped)
        publisher = {
            "id": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "quarry_version": tasks.__version__,
        }

        def manifest_for(number: int, report: FileEntry | None = None) -> Manifest:
            return Manifest(
                format=FORMAT,
                name=config.release,
                version=number,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                content_digest=digest,
                publisher=publisher,
                lineage=lineage,
                totals=totals,
                domains=domains,
                sources=sources,
                shards=[s.entry for s in staged],
                report=report,
                skipped=skipped,
                validation=dict(config.validation) if config.validation is not None else None,
            )

        versions = scan_versions(target, config.release)
        if config.dry_run:
            number = max((v.number for v in versions), default=0) + 1
            manifest = manifest_for(number)
            log.info(
                "dry run: would publish %s as %s",
                config.release,
                target.url_for(f"{config.release}/v{number}"),
            )
            return PublishResult(
                config.release,
                number,
                target.url_for(f"{config.release}/v{number}"),
                manifest,
                dry_run=True,
                already_published=False,
                resumed=False,
                latest_version=None,
            )

        def already_published(number: int) -> PublishResult:
            raw = target.get(f"{config.release}/{version_label(number)}/{MANIFEST}")
            latest = _promote(target, config, number, sha256_hex(raw))  # repair a lagging latest
            log.info("%s is already published as v%d; nothing written", config.release, number)
            return PublishResult(
                config.release,
                number,
                target.url_for(f"{config.release}/{version_label(number)}"),
                Manifest.from_bytes(raw),
                dry_run=False,
                already_published=True,
                resumed=False,
                latest_version=latest,
            )

        target.check_conditional_writes(f"{config.release}/probes")
        done = [v for v in versions if v.complete and _claim_digest(v) == digest]
        if done:
            return already_published(done[0].number)

        resumable = [v for v in versions if not v.complete and _claim_digest(v) == digest]
        if resumable:
            number, resumed = resumable[0].number, True
            log.info("resuming the unfinished publication of %s v%d", config.release, number)
        else:
            number = claim_version(target, config.release, versions, {**publisher, "content_digest": digest})
            resumed = False
            # A concurrent publisher of the same content may hold a lower claim: every such publisher
            # converges on the lowest one (its claim is older than ours, so this scan sees it).
            same = [
                v
                for v in scan_versions(target, config.release)
                if v.number < number and _claim_digest(v) == digest
            ]
            if same:
                target.delete(f"{config.release}/{version_label(number)}/{CLAIM}")
                if same[0].complete:
                    return already_published(same[0].number)
                number, resumed = same[0].number, True
                log.info("joining the concurrent publication of the same mixture as v%d", number)
        prefix = f"{config.release}/{version_label(number)}"

        _upload_shards(target, prefix, staged)
        report_entry = None
        if config.report:
            report_entry = _publish_report(target, prefix, config, store, manifest_for(number))
        manifest = manifest_for(number, report_entry)
        manifest_bytes = manifest.to_bytes()
        if not target.put_if_absent(f"{prefix}/{MANIFEST}", manifest_bytes):
            manifest_bytes = target.get(f"{prefix}/{MANIFEST}")  # a concurrent resumer finished first
            manifest = Manifest.from_bytes(manifest_bytes)
            if manifest.content_digest != digest:
                raise ObjectStoreError(
                    f"{target.url_for(prefix)} was completed by another publisher with different content"
                )
        latest = _promote(target, config, number, sha256_hex(manifest_bytes))
        log.info("published %s (latest is v%s)", target.url_for(prefix), latest)
        return PublishResult(
            config.release,
            number,
            target.url_for(prefix),
            manifest,
            dry_run=False,
            already_published=False,
            resumed=resumed,
            latest_version=latest,
        )


# ------------------------------------------------------------------------------------------- versions
def scan_versions(target: ObjectStore, name: str) -> list[VersionState]:
    """Every ``v<N>`` under ``<name>/`` with whether it is complete and its claim (if readable)."""
    out = []
    for child in target.list_children(validate_name(name, "mixture name")):
        number = parse_version(child)
        if number is None:
            continue
        complete = target.exists(f"{name}/{child}/{MANIFEST}")
        claim: dict[str, Any] | None = None
        try:
            loaded = json.loads(target.get(f"{name}/{child}/{CLAIM}"))
            claim = loaded if isinstance(loaded, dict) else None
        except (FileNotFoundError, ValueError):
            claim = None
        out.append(VersionState(number, complete, claim))
    return sorted(out, key=lambda v: v.number)


def _claim_digest(state: VersionState) -> str | None:
    return str(state.claim.get("content_digest")) if state.claim else None


def claim_version(target: ObjectStore, name: str, versions: list[VersionState], claim: dict[str, Any]) -> int:
    """Take the next free version number with a create-only-if-absent claim; return it."""
    number = max((v.number for v in versions), default=0) + 1
    body = json.dumps({**claim, "claimed_at": time.time(), "pid": os.getpid()}, sort_keys=True).encode()
    for _ in range(_MAX_CLAIM_ATTEMPTS):
        key = f"{name}/{version_label(number)}/{CLAIM}"
        won = target.put_if_absent(key, body)
        stored = json.loads(target.get(key))
        if stored.get("id") == claim["id"]:  # read-after-write: the stored claim is ours
            return number
        if won:
            raise ObjectStoreError(
                f"claim {target.url_for(key)} was overwritten after a successful conditional create: "
                "the store does not honour If-None-Match"
            )
        log.info("%s was taken by another publisher; trying the next number", target.url_for(key))
        number += 1
    raise ObjectStoreError(f"could not claim a version of {name} after {_MAX_CLAIM_ATTEMPTS} attempts")


def read_latest(target: ObjectStore, name: str) -> tuple[dict[str, Any], str] | None:
    current = target.get_with_etag(f"{validate_name(name, 'mixture name')}/{LATEST}")
    if current is None:
        return None
    data, etag = current
    loaded = json.loads(data)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("version"), int):
        raise ObjectStoreError(f"{target.url_for(f'{name}/{LATEST}')} is not a valid pointer")
    return loaded, etag


def _promote(target: ObjectStore, config: PublishConfig, number: int, manifest_sha256: str) -> int | None:
    """Advance ``latest`` to ``number`` when ``config.promote``; otherwise leave it. Returns where it points."""
    if config.promote:
        return advance_latest(target, config.release, number, manifest_sha256)
    current = read_latest(target, config.release)
    log.info("%s v%d is written but not promoted: latest stays", config.release, number)
    return int(current[0]["version"]) if current else None


def advance_latest(target: ObjectStore, name: str, number: int, manifest_sha256: str) -> int:
    """Point ``latest`` at ``number`` unless it already points at that or a newer version (CAS loop).
    Returns the version ``latest`` points at afterwards."""
    body = json.dumps(
        {
            "name": name,
            "version": number,
            "label": version_label(number),
            "manifest_sha256": manifest_sha256,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        sort_keys=True,
    ).encode()
    for attempt in range(_MAX_CAS_ATTEMPTS):
        current = read_latest(target, name)
        if current is not None and int(current[0]["version"]) >= number:
            return int(current[0]["version"])
        if target.compare_and_swap(f"{name}/{LATEST}", body, current[1] if current else None):
            return number
        time.sleep(min(0.5, 0.01 * 2**attempt))  # lost a race: re-read and try again
    raise ObjectStoreError(
        f"could not move {target.url_for(f'{name}/{LATEST}')} after {_MAX_CAS_ATTEMPTS} tries"
    )


# ------------------------------------------------------------------------------------------- staging
def _stage_shards(table: pa.Table, staging: str, max_rows: int) -> list[_Staged]:
    os.makedirs(os.path.join(staging, SHARDS_DIR), exist_ok=True)
    staged: list[_Staged] = []
    domains = table["domain"]
    groups = (
        pa.table({"domain": domains}).group_by(["domain"], use_threads=False).aggregate([([], "count_all")])
    )
    offset = 0
    for domain, count in zip(groups["domain"].to_pylist(), groups["count_all"].to_pylist(), strict=True):
        for start in range(0, count, max_rows):
            part = table.slice(offset + start, min(max_rows, count - start))
            name = f"part-{len(staged):05d}.parquet"
            path = os.path.join(staging, SHARDS_DIR, name)
            pq.write_table(part, path, compression="zstd", write_statistics=True)
            reps = pc.cast(part["repetitions"], pa.int64())
            entry = ShardEntry(
                path=f"{SHARDS_DIR}/{name}",
                domain=str(domain),
                rows=len(part),
                documents=int(pc.sum(reps).as_py() or 0),
                tokens=int(pc.sum(pc.multiply(part["n_tokens"], reps)).as_py() or 0),
                size=os.path.getsize(path),
                sha256=sha256_file(path),
            )
            staged.append(_Staged(path, entry))
        offset += count
    return staged


def _group_stats(table: pa.Table, column: str) -> dict[str, GroupStats]:
    reps = pc.cast(table["repetitions"], pa.int64())
    frame = pa.table(
        {
            "key": table[column],
            "reps": reps,
            "tokens": pc.multiply(table["n_tokens"], reps),
            "unique_tokens": table["n_tokens"],
        }
    )
    grouped = frame.group_by(["key"]).aggregate(
        [("reps", "sum"), ("reps", "count"), ("tokens", "sum"), ("unique_tokens", "sum")]
    )
    total = int(pc.sum(grouped["tokens_sum"]).as_py() or 0)
    out = {}
    for row in grouped.to_pylist():
        tokens = int(row["tokens_sum"] or 0)
        out[str(row["key"])] = GroupStats(
            documents=int(row["reps_sum"] or 0),
            unique_documents=int(row["reps_count"] or 0),
            tokens=tokens,
            unique_tokens=int(row["unique_tokens_sum"] or 0),
            proportion=round(tokens / total, 12) if total else 0.0,
        )
    return dict(sorted(out.items()))


def _stats(
    table: pa.Table, staged: list[_Staged], summary: Mapping[str, Any]
) -> tuple[dict[str, GroupStats], dict[str, GroupStats], Totals]:
    domains = _group_stats(table, "domain")
    before = summary_domains_before(summary)
    for domain, (tokens_before, proportion_before) in before.items():
        if domain in domains:
            domains[domain] = domains[domain].model_copy(
                update={"tokens_before": tokens_before, "proportion_before": proportion_before}
            )
    sources = _group_stats(table, "snapshot")
    totals = Totals(
        documents=sum(s.documents for s in domains.values()),
        unique_documents=len(table),
        tokens=sum(s.tokens for s in domains.values()),
        unique_tokens=sum(s.unique_tokens for s in domains.values()),
        shards=len(staged),
        bytes=sum(s.entry.size for s in staged),
    )
    return domains, sources, totals


def _lineage(
    config: PublishConfig, store: Store, mixture: MixtureInput, table: pa.Table, model_versions: list[str]
) -> Lineage:
    """Where the mixture came from: the mix summary (spec, seed, sweep), the scores' fastText model versions
    and, from each model's card (``models/<version>/model_card.json``), the LLM rater it was distilled from."""
    summary = mixture.summary
    given = _mapping(summary.get("lineage"))  # optional extra lineage a stage may record
    snapshots = sorted({str(s) for s in pc.unique(table["snapshot"]).to_pylist()})
    fasttext = sorted({*model_versions, *_strings(given.get("fasttext_model_versions"))})
    rater_versions = {str(k): str(v) for k, v in _mapping(given.get("rater_versions")).items()}
    for version in fasttext:
        rater = _rater_of_model(store, version)
        if rater:
            rater_versions[version] = rater
    stage_versions = {str(k): str(v) for k, v in _mapping(given.get("stage_versions")).items()}
    if summary.get("format_version") is not None:
        stage_versions.setdefault("mix", f"format-{summary['format_version']}")
    stage_versions.setdefault("publish", f"quarry-{tasks.__version__}")
    sweep_id = config.sweep_id or summary.get("sweep_id") or given.get("sweep_id")
    spec = _mapping(summary.get("spec")) or _mapping(summary.get("parameters"))
    mode = spec.get("kind") or summary.get("mode")
    seed = summary.get("seed")
    return Lineage(
        snapshots=snapshots,
        stage_versions=stage_versions,
        rater_versions=rater_versions,
        fasttext_model_versions=fasttext,
        sweep_id=str(sweep_id) if sweep_id else None,
        mix_mode=str(mode) if mode else None,
        sampling_parameters=dict(spec),
        seed=int(seed) if isinstance(seed, int) else None,
        source_store=_redact_url(store.root),
        **{k: str(v) for k, v in config.extra_lineage.items()},
    )


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rater_of_model(store: Store, version: str) -> str | None:
    """The LLM rater a fastText model version was distilled from, as its model card records it."""
    from tasks.storage import exists, read_json

    try:
        card_url = f"{store.models(version)}/model_card.json"
    except ValueError:
        return None
    if not exists(card_url):
        return None
    card = read_json(card_url)
    rater = card.get("rater_model") if isinstance(card, Mapping) else None
    return str(rater) if rater else None


def _redact_url(url: str) -> str:
    """Drop any user-info from a URL before it is recorded (``s3://key:secret@bucket`` lands nowhere)."""
    if "://" in url:
        scheme, rest = url.split("://", 1)
        host, sep, path = rest.partition("/")
        return f"{scheme}://{host.rsplit('@', 1)[-1]}{sep}{path}"
    return url


def _content_digest(
    name: str,
    staged: list[_Staged],
    lineage: Lineage,
    domains: Mapping[str, GroupStats],
    sources: Mapping[str, GroupStats],
    skipped: Mapping[str, int],
) -> str:
    canonical = {
        "format": FORMAT,
        "name": name,
        "shards": [[s.entry.path, s.entry.sha256, s.entry.rows] for s in staged],
        "lineage": lineage.model_dump(mode="json", exclude={"source_store"}),
        "domains": {k: v.model_dump(mode="json") for k, v in domains.items()},
        "sources": {k: v.model_dump(mode="json") for k, v in sources.items()},
        "skipped": dict(skipped),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------------------------------- uploads
def _upload_shards(target: ObjectStore, prefix: str, staged: list[_Staged]) -> None:
    stall_after = _failpoint()
    with progress_bar(len(staged), f"upload {prefix}") as advance:
        for i, shard in enumerate(staged):
            key = f"{prefix}/{shard.entry.path}"
            info = target.head(key) if isinstance(target, S3ObjectStore) else None
            if not (
                info and info.size == shard.entry.size and info.metadata.get("sha256") == shard.entry.sha256
            ):
                target.put_file(key, shard.path, shard.entry.sha256)
            advance()
            if stall_after is not None and i + 1 >= stall_after:
                print(f"failpoint: stalled after {i + 1} shard(s) of {prefix}", file=sys.stderr, flush=True)
                while True:  # wait here to be killed, like a publisher whose machine died mid-way
                    time.sleep(3600)


def _failpoint() -> int | None:
    value = os.environ.get(FAILPOINT_ENV, "")
    if value.startswith("stall-after-shards:"):
        return int(value.split(":", 1)[1])
    return None


def _publish_report(
    target: ObjectStore, prefix: str, config: PublishConfig, store: Store, manifest: Manifest
) -> FileEntry:
    """Write the version's HTML report once; a resumed or concurrent run keeps the one already there, so
    the manifest always lists the bytes that are stored."""
    from tasks.report import collect_inputs, render_html

    key = f"{prefix}/{REPORT}"
    try:
        data = target.get(key)
    except FileNotFoundError:
        inputs = collect_inputs(store, config.name, manifest=manifest, sweep_id=manifest.lineage.sweep_id)
        data = render_html(inputs).encode()
        if not target.put_if_absent(key, data):
            data = target.get(key)
    return FileEntry(path=REPORT, size=len(data), sha256=sha256_hex(data))
