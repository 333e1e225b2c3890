"""What the ``publish_mixture`` DAG's task does, as plain Python (no Airflow import): Params and the
triggering MIXTURE asset events in, a small JSON-able summary out (only names and URLs travel through XCom)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from tasks.publish.cli import TARGET_ENV
from tasks.publish.publisher import PublishConfig, publish_mixture
from tasks.storage import join, validate_name


def resolve_config(
    params: Mapping[str, Any], triggering_extras: Sequence[Mapping[str, Any]], default_store: str
) -> PublishConfig:
    """Params win; otherwise the newest triggering MIXTURE event's ``extra`` (``name``/``mixture``,
    ``store``); the target defaults to ``$QUARRY_PUBLISH_URL``, then ``<store>/published``."""
    latest_event: Mapping[str, Any] = triggering_extras[-1] if triggering_extras else {}
    name = str(params.get("mixture") or latest_event.get("mixture") or latest_event.get("name") or "")
    if not name:
        raise ValueError("no mixture to publish: set the 'mixture' param, or trigger from a MIXTURE event")
    store = str(params.get("store") or latest_event.get("store") or default_store)
    target = str(params.get("target") or os.environ.get(TARGET_ENV) or join(store, "published"))
    from tasks.sweep.gate import DEFAULT_MIN_SPEARMAN, gate_mixture  # the release gate decides `latest`

    min_spearman = params.get("min_spearman")
    gate = gate_mixture(
        store,
        validate_name(name, "mixture name"),
        min_spearman=DEFAULT_MIN_SPEARMAN if min_spearman in (None, "") else float(min_spearman),
        force=bool(params.get("force_latest", False)),
    )
    return PublishConfig(
        store=store,
        name=name,
        target=target,
        dry_run=bool(params.get("dry_run", False)),
        report=bool(params.get("report", True)),
        promote=gate.promote,
        validation=gate.to_json(),
        annealing=str(params.get("annealing") or "") or None,
        annealing_fraction=None
        if params.get("annealing_fraction") in (None, "")
        else float(params["annealing_fraction"]),
    )


def publish_from_params(
    params: Mapping[str, Any], triggering_extras: Sequence[Mapping[str, Any]], default_store: str
) -> dict[str, Any]:
    config = resolve_config(params, triggering_extras, default_store)
    result = publish_mixture(config)
    return {
        "validation": config.validation,
        "mixture": result.name,
        "version": result.manifest.label,
        "url": result.url,
        "dry_run": result.dry_run,
        "already_published": result.already_published,
        "latest": result.latest_version,
        "content_digest": result.manifest.content_digest,
        "documents": result.manifest.totals.documents,
        "tokens": result.manifest.totals.tokens,
        "annealing": result.manifest.annealing.mixture if result.manifest.annealing else None,
    }
