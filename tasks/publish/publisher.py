"""Publish a mixture as an immutable, numbered version; move ``latest`` last.

Protocol (the same on S3 and on a local directory, see :mod:`tasks.publish.objectstore`; version states and
numbering in :mod:`tasks.publish.versions`):

1. Materialise the mixture into Parquet shards in a local staging folder (deterministic bytes;
   :func:`tasks.publish.streamed.materialise_mixture`; see :mod:`tasks.publish.staging`, which also reclaims
   the folders of killed publishers) and compute a ``content_digest`` over the shards' sha256s, the lineage
   and the counts.
2. Scan ``<name>/v*/``: a complete version (it has ``manifest.json``) whose claim carries the same digest
   means this exact mixture is already published: nothing is written (only ``latest`` is repaired if it lags
   and ``promote`` is set). An incomplete version claimed with the same digest (an earlier run that died, or
   a concurrent one) is resumed.
3. Otherwise claim the next number by creating ``v<N>/claim.json`` only-if-absent (S3 ``If-None-Match: *``;
   local ``link(2)``). Losing the race moves on to the next number. The claim is read back and its publisher
   id checked (read-after-write), and the backend is probed once for honouring preconditions at all. A
   publisher that then finds the same content claimed under a lower number withdraws its own claim (it
   removes everything it wrote, so no empty version is left) and joins that one.
4. Upload the shards (and the report), refreshing ``heartbeat.json`` at least every minute so the version
   is not taken for abandoned; check that the claim still carries this content and every shard is there;
   then create ``manifest.json`` only-if-absent. Readers only ever look at versions that have a manifest, so
   a publisher killed before this point leaves no visible version.
5. If ``promote`` (the default), move ``latest`` forward with compare-and-swap (S3 ``If-Match: <etag>``;
   local lock + compare + rename), never backwards: if another publisher already pointed it at a newer
   version, it stays. With ``promote=False`` the version is complete and readable by number; ``latest``
   stays until the same content is published again with ``promote=True``.

``validation`` (a validation gate's verdict) is written into the manifest but is not part of the content
digest: the same data published again with another verdict is the same version. The manifest is immutable,
so it keeps the verdict of the run that wrote it; the later run only decides (``promote``) whether ``latest``
moves to it, and its result carries the stored manifest, whose ``validation`` tells which verdict is on record.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import tasks
from tasks.progress import progress_bar
from tasks.publish.config import PublishConfig, PublishResult
from tasks.publish.contents import content_digest, lineage_of, version_stats
from tasks.publish.manifest import (
    MANIFEST,
    REPORT,
    Annealing,
    FileEntry,
    Manifest,
    version_label,
)
from tasks.publish.mixture import MixturePlan, plan_mixture
from tasks.publish.objectstore import ObjectStore, ObjectStoreError, S3ObjectStore, open_store, sha256_hex
from tasks.publish.staging import StagedShard, staging_folder
from tasks.publish.streamed import PARTS_DIR as PARTS_DIR  # re-exported: it was defined here
from tasks.publish.streamed import Materialised as Materialised  # re-exported: it was defined here
from tasks.publish.streamed import materialise_mixture
from tasks.publish.versions import (
    HEARTBEAT,
    HEARTBEAT_INTERVAL_S,
    VersionState,
    advance_latest,
    beat,
    claim_version,
    drop_trailing_empty_claims,
    inspect_version,
    next_version_number,
    read_latest,
    scan_versions,
    withdraw_claim,
)
from tasks.storage import Store

__all__ = [
    "FAILPOINT_ENV",
    "PublishConfig",
    "PublishResult",
    "VersionState",
    "advance_latest",
    "claim_version",
    "publish_mixture",
    "read_latest",
    "scan_versions",
]

log = logging.getLogger(__name__)

ANNEALING_PREFIX = "annealing"  # shards/annealing-*.parquet: the annealing mixture's shards
FAILPOINT_ENV = "QUARRY_PUBLISH_FAILPOINT"  # "stall-after-shards:K": crash tests stop a real publisher there


# ------------------------------------------------------------------------------------------- entry point
def publish_mixture(config: PublishConfig) -> PublishResult:
    store = Store(config.store)
    target = open_store(config.target)
    mixture = plan_mixture(store, config.name)
    anneal_input = plan_mixture(store, config.annealing) if config.annealing else None

    with staging_folder(config.release) as staging:
        main = materialise_mixture(config, store, mixture, staging, "part")
        lineage = lineage_of(config, store, mixture, main.snapshots, main.model_versions)
        staged = main.staged
        domains, sources, totals = version_stats(main.domain_sums, main.source_sums, staged, mixture.summary)
        skipped = {"missing_documents": main.missing, "zero_repetition_rows": mixture.zero_repetition_rows}
        annealing, anneal_staged = (
            _stage_annealing(config, store, anneal_input, staging) if anneal_input else (None, [])
        )
        digest = content_digest(config.release, staged, lineage, domains, sources, skipped, annealing)
        publisher = {
            "id": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "quarry_version": tasks.__version__,
        }

        def manifest_for(number: int, report: FileEntry | None = None) -> Manifest:
            return Manifest(
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
                annealing=annealing,
            )

        return _publish_staged(config, store, target, staged + anneal_staged, digest, publisher, manifest_for)


def _stage_annealing(
    config: PublishConfig, store: Store, mixture: MixturePlan, staging: str
) -> tuple[Annealing, list[StagedShard]]:
    """Materialise and stage the annealing mixture as ``shards/annealing-*.parquet``; its manifest entry."""
    materialised = materialise_mixture(config, store, mixture, staging, ANNEALING_PREFIX)
    staged = materialised.staged
    domains, _, totals = version_stats(
        materialised.domain_sums, materialised.source_sums, staged, mixture.summary
    )
    recorded = mixture.summary.get("annealing")
    fraction = config.annealing_fraction
    if fraction is None and isinstance(recorded, dict):
        fraction = recorded.get("fraction")
    if not isinstance(fraction, int | float) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(
            f"annealing mixture {mixture.name!r}: give annealing_fraction in (0, 1) (its summary.json records "
            "no annealing.fraction)"
        )
    spec = mixture.summary.get("spec")
    return (
        Annealing(
            fraction=float(fraction),
            mixture=mixture.name,
            parameters=dict(spec) if isinstance(spec, dict) else {},
            totals=totals,
            domains=domains,
            shards=[s.entry for s in staged],
        ),
        staged,
    )


def _publish_staged(
    config: PublishConfig,
    store: Store,
    target: ObjectStore,
    staged: list[StagedShard],
    digest: str,
    publisher: dict[str, str],
    manifest_for: Callable[..., Manifest],
) -> PublishResult:
    release = config.release
    versions = scan_versions(target, release)
    if config.dry_run:
        number = next_version_number(drop_trailing_empty_claims(target, release, versions, dry_run=True))
        url = target.url_for(f"{release}/{version_label(number)}")
        log.info("dry run: would publish %s as %s", release, url)
        return PublishResult(
            release,
            number,
            url,
            manifest_for(number),
            dry_run=True,
            already_published=False,
            resumed=False,
            latest_version=None,
        )

    target.check_conditional_writes(f"{release}/probes")
    done = [v for v in versions if v.complete and v.content_digest == digest]
    if done:
        return _already_published(target, config, done[0].number)

    resumable = [v for v in versions if not v.complete and v.content_digest == digest]
    if resumable:
        number, resumed = resumable[0].number, True
        log.info("resuming the unfinished publication of %s v%d", release, number)
    else:
        versions = drop_trailing_empty_claims(target, release, versions)
        number = claim_version(target, release, versions, {**publisher, "content_digest": digest})
        resumed = False
        # A concurrent publisher of the same content may hold a lower claim: every such publisher
        # converges on the lowest one (its claim is older than ours, so this scan sees it).
        same = [v for v in scan_versions(target, release) if v.number < number and v.content_digest == digest]
        if same:
            withdraw_claim(target, release, number, publisher["id"])  # leaves nothing behind
            if same[0].complete:
                return _already_published(target, config, same[0].number)
            number, resumed = same[0].number, True
            log.info("joining the concurrent publication of the same mixture as v%d", number)
    if resumed:
        beat(target, release, number, publisher["id"])  # before touching it: not abandoned any more
    prefix = f"{release}/{version_label(number)}"

    _upload_shards(target, release, number, staged, digest, publisher["id"])
    report_entry = None
    if config.report:
        report_entry = _publish_report(target, prefix, config, store, manifest_for(number))
    _check_before_manifest(target, release, number, staged, digest)
    manifest = manifest_for(number, report_entry)
    manifest_bytes = manifest.to_bytes()
    if not target.put_if_absent(f"{prefix}/{MANIFEST}", manifest_bytes):
        manifest_bytes = target.get(f"{prefix}/{MANIFEST}")  # a concurrent resumer finished first
        manifest = Manifest.from_bytes(manifest_bytes)
        if manifest.content_digest != digest:
            raise ObjectStoreError(
                f"{target.url_for(prefix)} was completed by another publisher with different content"
            )
    target.delete(f"{prefix}/{HEARTBEAT}")  # complete: nobody needs to know whether we are alive
    latest = _promote(target, config, number, sha256_hex(manifest_bytes))
    log.info("published %s (latest is v%s)", target.url_for(prefix), latest)
    return PublishResult(
        release,
        number,
        target.url_for(prefix),
        manifest,
        dry_run=False,
        already_published=False,
        resumed=resumed,
        latest_version=latest,
    )


def _already_published(target: ObjectStore, config: PublishConfig, number: int) -> PublishResult:
    prefix = f"{config.release}/{version_label(number)}"
    raw = target.get(f"{prefix}/{MANIFEST}")
    manifest = Manifest.from_bytes(raw)
    if config.validation is not None and manifest.validation != config.validation:
        log.warning(
            "%s holds this content already with validation %s; manifests are immutable, so that verdict "
            "stays on record (this run's: %s)",
            target.url_for(prefix),
            manifest.validation,
            config.validation,
        )
    latest = _promote(target, config, number, sha256_hex(raw))  # repairs a lagging latest
    log.info("%s is already published as v%d; nothing written", config.release, number)
    return PublishResult(
        config.release,
        number,
        target.url_for(prefix),
        manifest,
        dry_run=False,
        already_published=True,
        resumed=False,
        latest_version=latest,
    )


def _promote(target: ObjectStore, config: PublishConfig, number: int, manifest_sha256: str) -> int | None:
    """Advance ``latest`` to ``number`` when ``config.promote``; otherwise leave it. Returns where it points."""
    if config.promote:
        return advance_latest(target, config.release, number, manifest_sha256)
    current = read_latest(target, config.release)
    log.info("%s v%d is written but not promoted: latest stays", config.release, number)
    return int(current[0]["version"]) if current else None


# ------------------------------------------------------------------------------------------- uploads
def _still_ours(target: ObjectStore, release: str, number: int, digest: str) -> None:
    """The claim of ``v<number>`` still carries our content (garbage collection did not take it from a
    publisher that stalled for hours, and nobody re-claimed the number since)."""
    state = inspect_version(target, release, number)
    if state.content_digest != digest:
        raise ObjectStoreError(
            f"{target.url_for(f'{release}/{version_label(number)}')} is no longer claimed for this content "
            "(collected as abandoned while this publisher stalled?); run the publication again"
        )


def _upload_shards(
    target: ObjectStore, release: str, number: int, staged: list[StagedShard], digest: str, publisher_id: str
) -> None:
    prefix = f"{release}/{version_label(number)}"
    stall_after = _failpoint()
    _still_ours(target, release, number, digest)  # the claim may be hours old if this process stalled
    last_beat = time.monotonic()
    with progress_bar(len(staged), f"upload {prefix}") as advance:
        for i, shard in enumerate(staged):
            if time.monotonic() - last_beat >= HEARTBEAT_INTERVAL_S:
                _still_ours(target, release, number, digest)
                beat(target, release, number, publisher_id)
                last_beat = time.monotonic()
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
    beat(target, release, number, publisher_id)


def _check_before_manifest(
    target: ObjectStore, release: str, number: int, staged: list[StagedShard], digest: str
) -> None:
    """Last look before the version becomes visible: still our claim, and every shard is stored whole."""
    _still_ours(target, release, number, digest)
    prefix = f"{release}/{version_label(number)}"
    for shard in staged:
        info = target.head(f"{prefix}/{shard.entry.path}")
        recorded = info.metadata.get("sha256") if info else None  # S3 keeps the sha256 the uploader gave
        if info is None or info.size != shard.entry.size or (recorded and recorded != shard.entry.sha256):
            raise ObjectStoreError(
                f"{target.url_for(f'{prefix}/{shard.entry.path}')} is missing or not what was uploaded "
                "(size or sha256); run the publication again"
            )


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
