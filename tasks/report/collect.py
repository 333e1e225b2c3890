"""Fill :class:`ReportInputs` from a store, reading what the other stages leave there (every piece optional;
a missing one leaves its panel "not available"):

* ``mixtures/<name>/summary.json`` (mix stage): ``domains.<d>.proportion`` and ``corpus_proportion``,
  ``sweep_id``.
* ``attributes/scores/<snapshot>/<shard>.parquet``: ``domain`` and the criteria columns (``educational_value``,
  ``professionalism``, ``readability``, ``reasoning``, ``cleanliness``), with ``attributes/dedup`` to leave
  duplicates out of the pre-mixing pool.
* ``sweeps/<id>/fit.json`` (sweep stage): ``oof`` (out-of-fold ``predicted``/``actual`` per run) and
  ``spearman_heldout``; ``sweeps/<id>/illusion.json``: the data-quality-illusion experiment
  (:mod:`tasks.illusion.experiment`), when it was run; ``sweeps/<id>/bakeoff.json``: the selection-method
  bake-off (:mod:`tasks.bakeoff`), when it was run.
* ``models/<version>/model_card.json`` → ``ratings/<name>/meta.json`` (rate stage): how many rated pages were
  flagged as prompt-injection suspects (and so left out of distillation), shown in the lineage table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tasks.publish.manifest import Manifest
from tasks.publish.mixture import mixture_files, read_mixture_rows
from tasks.report.inputs import ReportInputs, ScoreDistribution, SweepFit
from tasks.report.samples import BottomK, WeightSums
from tasks.storage import Store, exists, list_files, read_json, read_parquet

log = logging.getLogger(__name__)

CRITERIA = ("educational_value", "professionalism", "readability", "reasoning", "cleanliness")


def collect_inputs(
    store: Store,
    name: str,
    *,
    manifest: Manifest | None = None,
    sweep_id: str | None = None,
    max_pool_rows: int = 200_000,
    sample_seed: int = 0,
) -> ReportInputs:
    """The report's inputs. Memory is bounded whatever the corpus size: the shards are read one at a time, the
    score distributions come from seeded bottom-k samples of at most ``max_pool_rows`` documents each (the
    pre-mixing pool and the mixture's documents), and the domain shares are exact sums per domain."""
    summary, files = mixture_files(store, name)
    notes: list[str] = []
    scan = _scan(store, name, files, max_pool_rows, sample_seed, notes)
    pool, mixed = scan.pool, scan.mixed

    domains_after: dict[str, float] | None = None
    domains_before: dict[str, float] | None = None
    if manifest is not None:
        domains_after = manifest.proportions("domain")
        given = {
            k: v.proportion_before for k, v in manifest.domains.items() if v.proportion_before is not None
        }
        domains_before = dict(given) or None
    summary_domains = summary.get("domains") if isinstance(summary.get("domains"), Mapping) else None
    if domains_after is None and summary_domains:
        domains_after = _proportions_from_summary(summary_domains, "proportion")
    if domains_before is None and summary_domains:
        domains_before = _proportions_from_summary(summary_domains, "corpus_proportion")
    if domains_before is None and pool is not None:
        domains_before = scan.pool_tokens.shares()
    if domains_after is None and mixed is not None:
        domains_after = scan.mixed_tokens.shares()

    scores: list[ScoreDistribution] = []
    if pool is not None and mixed is not None:
        for criterion in CRITERIA:
            if criterion in pool.column_names and criterion in mixed.column_names:
                scores.append(
                    ScoreDistribution.from_values(
                        criterion,
                        pc.cast(pool[criterion], pa.float64()).to_numpy(zero_copy_only=False),
                        pc.cast(mixed[criterion], pa.float64()).to_numpy(zero_copy_only=False),
                        after_weights=pc.cast(mixed["repetitions"], pa.float64()).to_numpy(
                            zero_copy_only=False
                        ),
                    )
                )

    sweep_id = sweep_id or (manifest.lineage.sweep_id if manifest else None) or _sweep_from_summary(summary)
    sweep, illusion_doc = _load_sweep(store, sweep_id, notes)

    if manifest is not None:
        totals: dict[str, int | float | str] = dict(manifest.totals.model_dump())
        lineage = {
            k: v for k, v in manifest.lineage.model_dump(mode="json").items() if v not in (None, [], {})
        }
    else:
        totals = {"unique_documents": scan.unique_documents, "documents": scan.documents}
        lineage = {
            k: summary[k]
            for k in ("snapshots", "spec", "seed", "sweep_id", "format_version")
            if summary.get(k) not in (None, [], {})
        }
    flags = _injection_flags(store, manifest.lineage.fasttext_model_versions if manifest else [])
    if flags:
        lineage = {**lineage, "ratings flagged as prompt injection (not distilled)": flags}
    # the scores' model versions over every scored shard (not only the sampled rows), as a one-column table
    versions = (
        pa.table({"model_version": pa.array(scan.model_versions, pa.string())}) if pool is not None else None
    )
    validation = manifest.validation if manifest is not None else None
    if validation is None and sweep_id:  # not gated when published (or unpublished): what the gate says now
        from tasks.sweep.gate import DEFAULT_MIN_SPEARMAN, gate_sweep

        try:
            validation = gate_sweep(store.root, sweep_id).to_json()
            notes.append(
                f"The verdict was computed when this report was made (threshold {DEFAULT_MIN_SPEARMAN}); "
                "it was not recorded at publication."
            )
        except ValueError as exc:
            notes.append(f"no verdict: {exc}")
    spec = summary.get("spec") if isinstance(summary.get("spec"), Mapping) else None
    sampling = (manifest.lineage.sampling_parameters if manifest is not None else None) or spec
    return ReportInputs(
        mixture=name,
        version=manifest.label if manifest else None,
        totals=totals,
        lineage=lineage,
        domains_before=domains_before,
        domains_after=domains_after,
        scores=tuple(scores),
        sweep=sweep,
        illusion=illusion_doc or None,
        bakeoff=_load_bakeoff(store, sweep_id),
        notes=tuple(notes),
        validation=validation,
        sampling=sampling,
        rater_signal=_rater_signal(store, manifest, versions),
        human_labels=_human_labels(store, manifest, versions),
    )


@dataclass
class _Scan:
    """What one pass over the mixture's snapshots leaves: bounded samples and exact small aggregates."""

    pool: pa.Table | None  # scored non-duplicate documents (a sample of at most max_pool_rows)
    mixed: pa.Table | None  # the mixture's documents with scores and repetitions (a sample, likewise)
    pool_tokens: WeightSums  # n_tokens per domain over every scored non-duplicate document
    mixed_tokens: WeightSums  # n_tokens x repetitions per domain over every mixture document found
    model_versions: list[str]  # the scores' model_version values, over every scored shard
    unique_documents: int  # mixture rows with repetitions > 0
    documents: int  # their repetitions summed


def _scan(
    store: Store, name: str, files: tuple[str, ...], max_rows: int, seed: int, notes: list[str]
) -> _Scan:
    """Stream the mixture's row files, then every documents shard of its snapshots, one at a time."""
    by_shard: dict[tuple[str, str], list[str]] = {}  # (snapshot, shard) -> the row files naming it
    unique_documents = documents = 0
    for url in files:
        rows = read_mixture_rows(url)
        rows = rows.filter(pc.greater(rows["repetitions"], 0))
        unique_documents += len(rows)
        documents += int(pc.sum(rows["repetitions"]).as_py() or 0)
        keys = rows.select(["snapshot", "shard"]).group_by(["snapshot", "shard"]).aggregate([])
        for snapshot, shard in zip(keys["snapshot"].to_pylist(), keys["shard"].to_pylist(), strict=True):
            by_shard.setdefault((str(snapshot), str(shard)), []).append(url)
    if unique_documents == 0:
        raise ValueError(f"mixture {name!r} selects no document (every row has repetitions == 0)")

    pool, mixed = BottomK(max_rows, seed), BottomK(max_rows, seed)
    pool_tokens, mixed_tokens = WeightSums(), WeightSums()
    versions: set[str] = set()
    pool_has_domain = (
        False  # as a concatenated table would have a domain column (nulls where a shard lacks it)
    )
    for snapshot in sorted({s for s, _ in by_shard}):
        shards = [
            u.rsplit("/", 1)[-1][: -len(".parquet")]
            for u in list_files(store.documents(snapshot), (".parquet",))
        ]
        for shard in shards:
            scored = _scored_shard(store, snapshot, shard)
            if scored is None:
                continue
            pool.add(scored)
            has_domain = "domain" in scored.column_names
            pool_has_domain |= has_domain
            pool_tokens.add(scored["domain"] if has_domain else _nulls(scored), scored["n_tokens"])
            if "model_version" in scored.column_names:
                versions |= {str(v) for v in pc.unique(scored["model_version"]).to_pylist() if v}
            if (snapshot, shard) not in by_shard:
                continue
            part = _mixture_rows_of(by_shard[(snapshot, shard)], snapshot, shard)
            positions = pc.index_in(part["id"], value_set=scored["id"])
            found = pc.is_valid(positions)
            picked = scored.take(positions.filter(found)).append_column(
                "repetitions", pc.cast(part.filter(found)["repetitions"], pa.int64())
            )
            mixed.add(picked)
            mixed_tokens.add(
                picked["domain"] if has_domain else _nulls(picked),
                pc.multiply(picked["n_tokens"], picked["repetitions"]),
            )
    for label, sample in (("pre-mixing", pool), ("mixture", mixed)):
        if sample.sampled:
            notes.append(
                f"The {label} score distributions use a seeded random sample of {max_rows:,} of "
                f"{sample.seen:,} scored documents (the smallest hashes of their ids)."
            )
    pool_table = pool.table()
    return _Scan(
        pool=pool_table,
        mixed=mixed.table() if pool_table is not None else None,
        pool_tokens=pool_tokens if pool_has_domain else WeightSums(),
        mixed_tokens=mixed_tokens if pool_has_domain else WeightSums(),
        model_versions=sorted(versions),
        unique_documents=unique_documents,
        documents=documents,
    )


def _nulls(table: pa.Table) -> pa.Array:
    return pa.nulls(len(table), pa.string())


def _mixture_rows_of(urls: list[str], snapshot: str, shard: str) -> pa.Table:
    """The mixture's rows (repetitions > 0) drawn from one source shard, in file then row order."""
    parts = []
    for url in urls:
        rows = read_mixture_rows(url)
        keep = pc.and_(
            pc.and_(pc.equal(rows["snapshot"], snapshot), pc.equal(rows["shard"], shard)),
            pc.greater(rows["repetitions"], 0),
        )
        parts.append(rows.filter(keep))
    return pa.concat_tables(parts, promote_options="default")


def _scored_shard(store: Store, snapshot: str, shard: str) -> pa.Table | None:
    scores_url = store.attribute_shard("scores", snapshot, shard)
    if not exists(scores_url):
        return None
    scores = read_parquet(scores_url)
    docs = read_parquet(store.document_shard(snapshot, shard), columns=["id", "n_tokens"])
    if len(scores) != len(docs):
        log.warning("%s is not aligned with its documents shard; skipped in the report", scores_url)
        return None
    keep = [c for c in ("domain", *CRITERIA, "model_version") if c in scores.column_names]
    table = pa.table({"id": docs["id"], "n_tokens": docs["n_tokens"], **{c: scores[c] for c in keep}})
    dedup_url = store.attribute_shard("dedup", snapshot, shard)
    if exists(dedup_url):
        dedup = read_parquet(dedup_url, columns=["is_duplicate"])
        if len(dedup) == len(table):
            table = table.filter(pc.invert(pc.fill_null(dedup["is_duplicate"], False)))
    return table


def _proportions_from_summary(domains: Mapping[str, Any], key: str) -> dict[str, float] | None:
    out = {}
    for domain, stats in domains.items():
        if isinstance(stats, Mapping) and isinstance(stats.get(key), int | float):
            out[str(domain)] = float(stats[key])
    return out or None


def _sweep_from_summary(summary: Mapping[str, Any]) -> str | None:
    lineage = summary.get("lineage")
    value = summary.get("sweep_id") or (lineage.get("sweep_id") if isinstance(lineage, Mapping) else None)
    return str(value) if value else None


def _load_bakeoff(store: Store, sweep_id: str | None) -> Mapping[str, Any] | None:
    """The sweep's ``bakeoff.json`` (:mod:`tasks.bakeoff`), or None when it was not run."""
    if not sweep_id:
        return None
    try:
        url = f"{store.sweeps(sweep_id)}/bakeoff.json"
    except ValueError:
        return None
    doc = read_json(url) if exists(url) else None
    return doc if isinstance(doc, Mapping) else None


_FIT_FACTS = ("objective", "n_runs", "spearman_heldout", "chosen_predicted_loss", "search_size", "top_k")


def _load_sweep(
    store: Store, sweep_id: str | None, notes: list[str]
) -> tuple[SweepFit | None, Mapping[str, Any]]:
    """The fit (from ``fit.json``) and the data-quality-illusion experiment (``illusion.json``) of a sweep."""
    if not sweep_id:
        return None, {}
    try:
        base = store.sweeps(sweep_id)
    except ValueError as exc:
        notes.append(f"sweep id ignored: {exc}")
        return None, {}
    report = read_json(f"{base}/illusion.json") if exists(f"{base}/illusion.json") else {}
    report = report if isinstance(report, Mapping) else {}
    if not exists(f"{base}/fit.json"):
        notes.append(f"sweep {sweep_id}: no fit.json under {base} (not fitted yet)")
        return None, report
    fit = read_json(f"{base}/fit.json")
    if not isinstance(fit, Mapping):
        return None, report
    oof = fit.get("oof")
    try:
        if isinstance(oof, list):
            predicted = [float(r["predicted"]) for r in oof]
            actual = [float(r["actual"]) for r in oof]
        else:
            predicted = [float(v) for v in fit.get("predicted") or []]
            actual = [float(v) for v in fit.get("actual") or []]
        rho = fit.get("spearman_heldout", fit.get("spearman"))
        facts = {k: fit[k] for k in _FIT_FACTS if isinstance(fit.get(k), int | float | str)}
        return (
            SweepFit(
                predicted=tuple(predicted),
                actual=tuple(actual),
                spearman=float(rho) if isinstance(rho, int | float) else None,
                label="out-of-fold proxy runs" if isinstance(oof, list) else "held-out proxy runs",
                best_parameters=facts,
            ),
            report,
        )
    except (KeyError, TypeError, ValueError) as exc:
        notes.append(f"sweep {sweep_id}: unreadable fit.json ({exc})")
        return None, report


def _rater_signal(
    store: Store, manifest: Manifest | None, pool: pa.Table | None
) -> dict[str, Mapping[str, Any]] | None:
    """Per criterion, the ``signal`` record of the model card(s) of the fastText models that scored the mixture
    (named by the manifest's lineage, else by the scores' ``model_version`` column)."""
    versions: list[str] = list(manifest.lineage.fasttext_model_versions) if manifest is not None else []
    if not versions and pool is not None and "model_version" in pool.column_names:
        versions = sorted({str(v) for v in pc.unique(pool["model_version"]).to_pylist() if v})
    out: dict[str, Mapping[str, Any]] = {}
    for version in versions:
        try:
            url = f"{store.models(version)}/model_card.json"
        except ValueError:
            continue
        card = read_json(url) if exists(url) else {}
        models = card.get("models") if isinstance(card, Mapping) else None
        for name, entry in (models or {}).items():
            if isinstance(entry, Mapping) and isinstance(entry.get("signal"), Mapping):
                out[str(name)] = entry["signal"]
    return out or None


def _injection_flags(store: Store, versions: list[str]) -> str | None:
    """ "N of M rated pages (ratings 'x')" from the ratings behind the distilled models (the latest if none)."""
    if not versions and exists(store.path("models", "_latest.json")):
        latest = read_json(store.path("models", "_latest.json"))
        versions = [str(latest["version"])] if isinstance(latest, Mapping) and "version" in latest else []
    parts = []
    names = {_ratings_of(store, v) for v in versions}
    for ratings in sorted(n for n in names if n is not None):
        meta_url = f"{store.ratings()}/{ratings}/meta.json"
        meta = read_json(meta_url) if exists(meta_url) else None
        if isinstance(meta, Mapping) and isinstance(meta.get("injection_suspected"), int):
            parts.append(
                f"{meta['injection_suspected']:,} of {meta.get('n_sampled', '?'):,} rated pages ({ratings})"
            )
    return "; ".join(parts) or None


def _ratings_of(store: Store, version: str) -> str | None:
    try:
        card_url = f"{store.models(version)}/model_card.json"
    except ValueError:
        return None
    card = read_json(card_url) if exists(card_url) else None
    return str(card["ratings"]) if isinstance(card, Mapping) and card.get("ratings") else None


def _human_labels(store: Store, manifest: Manifest | None, pool: pa.Table | None) -> Mapping[str, Any] | None:
    """The ``human_labels`` block of the model card(s) behind the mixture's scores: the domain model's agreement
    with human register labels (tasks/distill/human_labels.py); None when no card measured it."""
    versions: list[str] = list(manifest.lineage.fasttext_model_versions) if manifest is not None else []
    if not versions and pool is not None and "model_version" in pool.column_names:
        versions = sorted({str(v) for v in pc.unique(pool["model_version"]).to_pylist() if v})
    for version in versions:
        try:
            url = f"{store.models(version)}/model_card.json"
        except ValueError:
            continue
        card = read_json(url) if exists(url) else None
        block = card.get("human_labels") if isinstance(card, Mapping) else None
        if isinstance(block, Mapping):
            return block
    return None
