"""The mix stage's ``summary.json``: corpus and mixture totals per domain, realised proportions, and the
uniform and top-k baselines' proportions beside them (folded from the shards' completion markers one at a time).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tasks.mix.corpus import ShardRef
from tasks.mix.sampling import CorpusStats
from tasks.mix.specs import QuaDMixSpec, SamplingSpec

if TYPE_CHECKING:
    from tasks.mix.stage import MixConfig


def summarise(
    config: MixConfig,
    spec: SamplingSpec,
    sweep_id: str | None,
    report: Mapping[str, Any] | None,
    stats: CorpusStats,
    refs: Sequence[ShardRef],
    skipped: Mapping[str, str],
    dropped: Mapping[str, int],
    infos: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    corpus_total = stats.total_tokens
    domains: dict[str, dict[str, Any]] = {}
    all_domains = sorted(set(stats.domain_tokens) | _spec_domains(spec))
    for d in all_domains:
        domains[d] = {
            "corpus_tokens": stats.domain_tokens.get(d, 0.0),
            "corpus_documents": stats.domain_documents.get(d, 0),
            "mixture_tokens": 0.0,
            "mixture_documents": 0,
            "copies": 0,
            "topk_tokens": 0.0,
        }
    documents = copies = 0
    for info in infos:
        documents += int(info.get("documents", 0))
        copies += int(info.get("copies", 0))
        for d, v in (info.get("domains") or {}).items():
            row = domains.setdefault(
                d,
                {
                    "corpus_tokens": 0.0,
                    "corpus_documents": 0,
                    "mixture_tokens": 0.0,
                    "mixture_documents": 0,
                    "copies": 0,
                    "topk_tokens": 0.0,
                },
            )
            for k in ("mixture_tokens", "mixture_documents", "copies", "topk_tokens"):
                row[k] += v[k]
    mix_total = sum(v["mixture_tokens"] for v in domains.values())
    topk_total = sum(v["topk_tokens"] for v in domains.values())
    for v in domains.values():
        v["proportion"] = v["mixture_tokens"] / mix_total if mix_total > 0 else 0.0
        v["corpus_proportion"] = v["corpus_tokens"] / corpus_total if corpus_total > 0 else 0.0
        v["epochs"] = v["mixture_tokens"] / v["corpus_tokens"] if v["corpus_tokens"] > 0 else 0.0
    spec_domains = _spec_domains(spec)
    baselines: dict[str, Any] = {
        "uniform": {"proportions": {d: v["corpus_proportion"] for d, v in domains.items()}},
    }
    if config.topk_criterion:
        baselines["topk"] = {
            "criterion": config.topk_criterion,
            "keep_fraction": config.topk_keep,
            "tokens": topk_total,
            "proportions": {
                d: (v["topk_tokens"] / topk_total if topk_total > 0 else 0.0) for d, v in domains.items()
            },
        }
    summary: dict[str, Any] = {
        "name": config.name,
        "format_version": 1,
        "spec": spec.to_json(),
        "seed": config.seed,
        "sweep_id": sweep_id,
        "snapshots": sorted({r.snapshot for r in refs}),
        "created_at": time.time(),
        "documents_path": "documents/<snapshot>/<shard>.parquet",
        "corpus": {
            "shards": len(refs),
            "shards_skipped": dict(skipped),
            "documents": int(sum(stats.domain_documents.values())),
            "tokens": corpus_total,
            "dropped": dict(dropped),
        },
        "mixture": {
            "documents": documents,
            "copies": copies,
            "tokens": mix_total,
        },
        "domains": domains,
        "unparameterised_domains": sorted(
            d for d in stats.domain_tokens if spec_domains and d not in spec_domains
        ),
        "baselines": baselines,
    }
    if report is not None:
        summary["proxy_comparison"] = {
            "objective": report.get("objective"),
            "quality": report.get("quality"),
            "mixtures": report.get("mixtures"),
        }
    return summary


def _spec_domains(spec: SamplingSpec) -> set[str]:
    if isinstance(spec, QuaDMixSpec):
        return set(spec.domains)
    weights = getattr(spec, "weights", None)
    return set(weights) if weights else set()
