"""What a version contains, computed from the materialised rows (summed over the parts): per-domain and per-source statistics, the
lineage (where the mixture came from) and the content digest that identifies identical publications."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

import tasks
from tasks.publish.manifest import FORMAT, Annealing, GroupStats, Lineage, Totals
from tasks.publish.mixture import MixtureInput, MixturePlan, summary_domains_before
from tasks.publish.staging import StagedShard
from tasks.storage import Store

if TYPE_CHECKING:
    from tasks.publish.config import PublishConfig


# Per group: (documents = repetitions summed, unique documents = rows, tokens x repetitions, tokens). Exact
# integers, so the sums over a release's parts are the sums over its whole table.
GroupSums = dict[str, tuple[int, int, int, int]]


def group_sums(table: pa.Table, column: str) -> GroupSums:
    """Per value of ``column`` of a materialised table (or one part of it): the sums ``GroupStats`` are made of."""
    reps = pc.cast(table["repetitions"], pa.int64())
    frame = pa.table(
        {
            "key": table[column],
            "reps": reps,
            "tokens": pc.multiply(table["n_tokens"], reps),
            "unique_tokens": table["n_tokens"],
        }
    )
    grouped = frame.group_by(["key"], use_threads=False).aggregate(
        [("reps", "sum"), ("reps", "count"), ("tokens", "sum"), ("unique_tokens", "sum")]
    )
    return {
        str(row["key"]): (
            int(row["reps_sum"] or 0),
            int(row["reps_count"] or 0),
            int(row["tokens_sum"] or 0),
            int(row["unique_tokens_sum"] or 0),
        )
        for row in grouped.to_pylist()
    }


def add_sums(into: GroupSums, more: GroupSums) -> None:
    for key, values in more.items():
        old = into.get(key, (0, 0, 0, 0))
        into[key] = (old[0] + values[0], old[1] + values[1], old[2] + values[2], old[3] + values[3])


def stats_of(sums: GroupSums) -> dict[str, GroupStats]:
    total = sum(v[2] for v in sums.values())
    out = {
        key: GroupStats(
            documents=documents,
            unique_documents=unique_documents,
            tokens=tokens,
            unique_tokens=unique_tokens,
            proportion=round(tokens / total, 12) if total else 0.0,
        )
        for key, (documents, unique_documents, tokens, unique_tokens) in sums.items()
    }
    return dict(sorted(out.items()))


def group_stats(table: pa.Table, column: str) -> dict[str, GroupStats]:
    return stats_of(group_sums(table, column))


def version_stats(
    domain_sums: GroupSums, source_sums: GroupSums, staged: list[StagedShard], summary: Mapping[str, Any]
) -> tuple[dict[str, GroupStats], dict[str, GroupStats], Totals]:
    domains = stats_of(domain_sums)
    before = summary_domains_before(summary)
    for domain, (tokens_before, proportion_before) in before.items():
        if domain in domains:
            domains[domain] = domains[domain].model_copy(
                update={"tokens_before": tokens_before, "proportion_before": proportion_before}
            )
    sources = stats_of(source_sums)
    totals = Totals(
        documents=sum(s.documents for s in domains.values()),
        unique_documents=sum(s.unique_documents for s in domains.values()),
        tokens=sum(s.tokens for s in domains.values()),
        unique_tokens=sum(s.unique_tokens for s in domains.values()),
        shards=len(staged),
        bytes=sum(s.entry.size for s in staged),
    )
    return domains, sources, totals


def lineage_of(
    config: PublishConfig,
    store: Store,
    mixture: MixtureInput | MixturePlan,
    snapshots: list[str],
    model_versions: list[str],
) -> Lineage:
    """Where the mixture came from: the mix summary (spec, seed, sweep), the scores' fastText model versions
    and, from each model's card (``models/<version>/model_card.json``), the LLM rater it was distilled from."""
    summary = mixture.summary
    given = _mapping(summary.get("lineage"))  # optional extra lineage a stage may record
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
        snapshots=sorted(snapshots),
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


def content_digest(
    name: str,
    staged: list[StagedShard],
    lineage: Lineage,
    domains: Mapping[str, GroupStats],
    sources: Mapping[str, GroupStats],
    skipped: Mapping[str, int],
    annealing: Annealing | None = None,
) -> str:
    canonical: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "shards": [[s.entry.path, s.entry.sha256, s.entry.rows] for s in staged],
        "lineage": lineage.model_dump(mode="json", exclude={"source_store"}),
        "domains": {k: v.model_dump(mode="json") for k, v in domains.items()},
        "sources": {k: v.model_dump(mode="json") for k, v in sources.items()},
        "skipped": dict(skipped),
    }
    if annealing is not None:  # absent: the digest of a release without one is what it always was
        canonical["annealing"] = annealing.model_dump(mode="json")
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
