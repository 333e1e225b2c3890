"""The numbered versions of a published mixture: scan, claim, heartbeat, ``latest``, and garbage collection.

States of ``<name>/v<N>/`` (see :func:`scan_versions`):

* **complete**: ``manifest.json`` exists. Published versions are immutable: nothing here overwrites or
  deletes one (garbage collection skips a version with a manifest and never deletes a manifest key).
* **pending**: claimed (``claim.json``) but no manifest yet, and its publisher beat its heart (the claim's
  ``claimed_at`` or ``heartbeat.json``, refreshed at least every :data:`HEARTBEAT_INTERVAL_S` while it
  uploads) within the last :data:`ABANDONED_AFTER_S` seconds.
* **abandoned**: no manifest and no heartbeat for :data:`ABANDONED_AFTER_S` (its publisher died), or objects
  without a claim (an interrupted clean-up). A rerun of the same content still resumes it; ``quarry publish
  --gc`` removes it.
* **empty**: a prefix with no object at all (a folder some S3 servers keep after its last object was
  deleted). Not a version: listings skip it and its number is free again.

Numbering rule: a new claim takes ``1 +`` the highest number that holds anything (a manifest, a claim or any
object); empty prefixes do not count, and abandoned claims that hold nothing else at the top of the list are
removed first (:func:`drop_trailing_empty_claims`), so a publisher killed right after claiming costs no
number. So a number is reused only if nothing was ever readable under it (no
manifest) and nothing is left of it (no claim: the claim is created only-if-absent, so reuse cannot collide
with a live claimer), and only above every existing version, so version numbers keep increasing with time
and ``latest`` (which never moves backwards) keeps pointing at the newest content. A hole below a higher
version (an abandoned v2 removed under a complete v3) is never filled.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.publish.manifest import CLAIM, LATEST, MANIFEST, parse_version, version_label
from tasks.publish.objectstore import ObjectStore, ObjectStoreError
from tasks.storage import validate_name

log = logging.getLogger(__name__)

HEARTBEAT = "heartbeat.json"
HEARTBEAT_INTERVAL_S = 60.0
ABANDONED_AFTER_S = 6 * 3600.0  # an incomplete version silent this long is abandoned
_MAX_CLAIM_ATTEMPTS = 1000
_MAX_CAS_ATTEMPTS = 50

COMPLETE, PENDING, ABANDONED, EMPTY = "complete", "pending", "abandoned", "empty"


@dataclass(frozen=True)
class VersionState:
    number: int
    complete: bool
    claim: dict[str, Any] | None
    last_beat: float | None = None  # newest of the claim's ``claimed_at`` and the heartbeat (epoch seconds)
    has_objects: bool = True

    @property
    def label(self) -> str:
        return version_label(self.number)

    @property
    def content_digest(self) -> str | None:
        return str(self.claim.get("content_digest")) if self.claim else None

    def state(self, now: float | None = None, abandoned_after_s: float = ABANDONED_AFTER_S) -> str:
        if self.complete:
            return COMPLETE
        if self.claim is None:
            return ABANDONED if self.has_objects else EMPTY
        now = time.time() if now is None else now
        if self.last_beat is None or now - self.last_beat > abandoned_after_s:
            return ABANDONED
        return PENDING

    def occupied(self) -> bool:
        """Whether the number is taken (see the numbering rule in the module docstring)."""
        return self.complete or self.claim is not None or self.has_objects


def _read_json(target: ObjectStore, key: str) -> dict[str, Any] | None:
    try:
        loaded = json.loads(target.get(key))
    except (FileNotFoundError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _beat_time(record: dict[str, Any] | None, field: str) -> float | None:
    value = record.get(field) if record else None
    return float(value) if isinstance(value, int | float) else None


def inspect_version(target: ObjectStore, name: str, number: int) -> VersionState:
    prefix = f"{name}/{version_label(number)}"
    complete = target.exists(f"{prefix}/{MANIFEST}")
    claim = _read_json(target, f"{prefix}/{CLAIM}")
    if complete:
        return VersionState(number, True, claim)
    beats = [
        t
        for t in (
            _beat_time(claim, "claimed_at"),
            _beat_time(_read_json(target, f"{prefix}/{HEARTBEAT}"), "at"),
        )
        if t is not None
    ]
    has_objects = claim is not None or bool(target.list_keys(prefix))
    return VersionState(number, False, claim, max(beats, default=None), has_objects)


def scan_versions(target: ObjectStore, name: str, include_empty: bool = False) -> list[VersionState]:
    """Every ``v<N>`` under ``<name>/``, lowest first; empty prefixes only with ``include_empty``."""
    out = []
    for child in target.list_children(validate_name(name, "mixture name")):
        number = parse_version(child)
        if number is None:
            continue
        state = inspect_version(target, name, number)
        if state.occupied() or include_empty:
            out.append(state)
    return sorted(out, key=lambda v: v.number)


def next_version_number(versions: list[VersionState]) -> int:
    return max((v.number for v in versions if v.occupied()), default=0) + 1


def drop_trailing_empty_claims(
    target: ObjectStore,
    name: str,
    versions: list[VersionState],
    abandoned_after_s: float = ABANDONED_AFTER_S,
    now: Callable[[], float] = time.time,
    dry_run: bool = False,
) -> list[VersionState]:
    """Remove abandoned claims that hold nothing but the claim (and a heartbeat) from the top of the version
    list, so the next claim takes their number instead of skipping it; return the versions left. Abandoned
    versions with data are left for ``--gc`` (a rerun of their content could still resume them). With
    ``dry_run`` nothing is removed, only left out of the returned list."""
    kept = sorted(versions, key=lambda v: v.number)
    while kept and kept[-1].state(now(), abandoned_after_s) == ABANDONED:
        prefix = f"{name}/{kept[-1].label}"
        if set(target.list_keys(prefix)) - {f"{prefix}/{CLAIM}", f"{prefix}/{HEARTBEAT}"}:
            break
        if not dry_run and not _remove_abandoned(target, name, kept[-1].number, abandoned_after_s, now):
            break
        log.info("reusing the number of the abandoned, empty claim %s", target.url_for(prefix))
        kept.pop()
    return kept


def claim_version(target: ObjectStore, name: str, versions: list[VersionState], claim: dict[str, Any]) -> int:
    """Take the next free version number with a create-only-if-absent claim; return it."""
    number = next_version_number(versions)
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


def owns_claim(target: ObjectStore, name: str, number: int, publisher_id: str) -> bool:
    claim = _read_json(target, f"{name}/{version_label(number)}/{CLAIM}")
    return claim is not None and claim.get("id") == publisher_id


def beat(target: ObjectStore, name: str, number: int, publisher_id: str, at: float | None = None) -> None:
    """Record that the publisher of ``v<number>`` is alive (``at`` defaults to now)."""
    body = {"id": publisher_id, "at": time.time() if at is None else at, "pid": os.getpid()}
    target.put(f"{name}/{version_label(number)}/{HEARTBEAT}", json.dumps(body, sort_keys=True).encode())


def withdraw_claim(target: ObjectStore, name: str, number: int, publisher_id: str) -> None:
    """A publisher that lost (or gave up) ``v<number>`` removes what it wrote there: its heartbeat, then its
    claim (last, so the number stays taken until nothing of it is left), then the empty folder."""
    prefix = f"{name}/{version_label(number)}"
    if not owns_claim(target, name, number, publisher_id):
        raise ObjectStoreError(f"{target.url_for(prefix)} is not claimed by this publisher")
    target.delete(f"{prefix}/{HEARTBEAT}")
    target.delete(f"{prefix}/{CLAIM}")
    target.remove_empty_prefix(prefix)


# ------------------------------------------------------------------------------------------- garbage
@dataclass(frozen=True)
class GcResult:
    removed: list[str]  # labels of the abandoned versions removed
    kept_pending: list[str]  # incomplete versions whose publisher is still beating
    complete: list[str]
    empty_prefixes: list[str]  # empty folders dropped


def collect_garbage(
    target: ObjectStore,
    name: str,
    abandoned_after_s: float = ABANDONED_AFTER_S,
    now: Callable[[], float] = time.time,
    dry_run: bool = False,
) -> GcResult:
    """Remove every abandoned incomplete version of ``name`` (never a complete one, never a pending one)."""
    removed: list[str] = []
    pending: list[str] = []
    complete: list[str] = []
    empty: list[str] = []
    for version in scan_versions(target, name, include_empty=True):
        state = version.state(now(), abandoned_after_s)
        if state == COMPLETE:
            complete.append(version.label)
        elif state == PENDING:
            pending.append(version.label)
        elif state == EMPTY:
            if not dry_run:
                target.remove_empty_prefix(f"{name}/{version.label}")
            empty.append(version.label)
        elif dry_run or _remove_abandoned(target, name, version.number, abandoned_after_s, now):
            removed.append(version.label)
        else:
            pending.append(version.label)  # it came back to life (a rerun resumed it) while we looked
    return GcResult(removed, pending, complete, empty)


def _remove_abandoned(
    target: ObjectStore, name: str, number: int, abandoned_after_s: float, now: Callable[[], float]
) -> bool:
    """Delete an abandoned version's objects, claim last. Before every delete the version is inspected
    again: if it got a manifest or a fresh heartbeat (a rerun is resuming it), stop and keep the rest."""
    prefix = f"{name}/{version_label(number)}"
    listed = target.list_keys(prefix)
    if f"{prefix}/{MANIFEST}" in listed:
        return False
    claim = f"{prefix}/{CLAIM}"
    keys = [k for k in listed if k != claim]
    for key in [*keys, *([claim] if claim in listed else [])]:
        if inspect_version(target, name, number).state(now(), abandoned_after_s) != ABANDONED:
            log.info("%s was resumed while being collected; left alone", target.url_for(prefix))
            return False
        target.delete(key)
    for sub in sorted({k.rsplit("/", 1)[0] for k in keys}, key=len, reverse=True):
        target.remove_empty_prefix(sub)
    target.remove_empty_prefix(prefix)
    log.info("removed abandoned %s", target.url_for(prefix))
    return True


# ------------------------------------------------------------------------------------------- latest
def read_latest(target: ObjectStore, name: str) -> tuple[dict[str, Any], str] | None:
    current = target.get_with_etag(f"{validate_name(name, 'mixture name')}/{LATEST}")
    if current is None:
        return None
    data, etag = current
    loaded = json.loads(data)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("version"), int):
        raise ObjectStoreError(f"{target.url_for(f'{name}/{LATEST}')} is not a valid pointer")
    return loaded, etag


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
