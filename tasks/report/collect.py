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
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tasks.publish.manifest import Manifest
from tasks.publish.mixture import MixtureInput, load_mixture
from tasks.report.inputs import ReportInputs, ScoreDistribution, SweepFit
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
) -> ReportInputs:
    mixture = load_mixture(store, name)
    summary = mixture.summary
    notes: list[str] = []
    pool, mixed = _scored_tables(store, mixture, max_pool_rows, notes)

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
    if domains_before is None and pool is not None and "domain" in pool.column_names:
        domains_before = _token_shares(pool["domain"], pool["n_tokens"])
    if domains_after is None and mixed is not None and "domain" in mixed.column_names:
        weights = pc.multiply(mixed["n_tokens"], mixed["repetitions"])
        domains_after = _token_shares(mixed["domain"], weights)

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
        reps = pc.cast(mixture.rows["repetitions"], pa.int64())
        totals = {"unique_documents": len(mixture.rows), "documents": int(pc.sum(reps).as_py() or 0)}
        lineage = {
            k: summary[k]
            for k in ("snapshots", "spec", "seed", "sweep_id", "format_version")
            if summary.get(k) not in (None, [], {})
        }
    flags = _injection_flags(store, manifest.lineage.fasttext_model_versions if manifest else [])
    if flags:
        lineage = {**lineage, "ratings flagged as prompt injection (not distilled)": flags}
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
        rater_signal=_rater_signal(store, manifest, pool),
        human_labels=_human_labels(store, manifest, pool),
    )


def _scored_tables(
    store: Store, mixture: MixtureInput, max_pool_rows: int, notes: list[str]
) -> tuple[pa.Table | None, pa.Table | None]:
    """(pool, mixed): scored, non-duplicate documents of the mixture's snapshots (capped), and the mixture's
    own documents with their scores and repetitions."""
    rows = mixture.rows
    snapshots = sorted({str(s) for s in pc.unique(rows["snapshot"]).to_pylist()})
    used = {
        (str(s), str(h)) for s, h in zip(rows["snapshot"].to_pylist(), rows["shard"].to_pylist(), strict=True)
    }
    pool_parts: list[pa.Table] = []
    mixed_parts: list[pa.Table] = []
    pool_rows = 0
    capped = False
    for snapshot in snapshots:
        shards = [
            u.rsplit("/", 1)[-1][: -len(".parquet")]
            for u in list_files(store.documents(snapshot), (".parquet",))
        ]
        for shard in shards:
            in_mixture = (snapshot, shard) in used
            if not in_mixture and pool_rows >= max_pool_rows:
                capped = True
                continue
            scored = _scored_shard(store, snapshot, shard)
            if scored is None:
                continue
            if pool_rows < max_pool_rows:
                pool_parts.append(scored)
                pool_rows += len(scored)
            else:
                capped = True
            if in_mixture:
                part = rows.filter(
                    pc.and_(pc.equal(rows["snapshot"], snapshot), pc.equal(rows["shard"], shard))
                )
                positions = pc.index_in(part["id"], value_set=scored["id"])
                found = pc.is_valid(positions)
                picked = scored.take(positions.filter(found))
                mixed_parts.append(
                    picked.append_column(
                        "repetitions", pc.cast(part.filter(found)["repetitions"], pa.int64())
                    )
                )
    if capped:
        notes.append(f"The pre-mixing distributions use the first {pool_rows:,} scored documents.")
    if not pool_parts:
        return None, None
    pool = pa.concat_tables(pool_parts, promote_options="default")
    mixed = pa.concat_tables(mixed_parts, promote_options="default") if mixed_parts else None
    return pool, mixed


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


def _token_shares(keys: Any, weights: Any) -> dict[str, float]:
    frame = pa.table(
        {"k": pc.fill_null(pc.cast(keys, pa.string()), "unknown"), "w": pc.cast(weights, pa.float64())}
    )
    grouped = frame.group_by(["k"]).aggregate([("w", "sum")])
    total = float(pc.sum(grouped["w_sum"]).as_py() or 0.0)
    if total <= 0:
        return {}
    return {
        str(k): float(w) / total
        for k, w in sorted(zip(grouped["k"].to_pylist(), grouped["w_sum"].to_pylist(), strict=True))
    }


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
