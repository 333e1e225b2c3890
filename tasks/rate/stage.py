"""The rate stage: a stratified document sample → LLM ratings on every criterion → ``ratings/<name>/``.

``ratings/<name>/sample.parquet``   the sample (reused on rerun while the sampling parameters are unchanged)
``ratings/<name>/ratings.parquet``  one row per sampled document: its prepared text, split, flags and, per
                                    criterion, the logprob-derived score (or domain + probability) and a status
``ratings/<name>/meta.json``        model, criteria keys, counts, request statistics, ``complete``
``_markers/rate/<name>/ratings.done`` written last, only when every document got a final answer

Prompt injection (see :mod:`tasks.rate.untrusted`): a page whose text holds spans that could steer a rater is
rated a second time with those spans masked (``<criterion>__masked``; the full text's score is
``<criterion>__full``). Its score is the lower of the two, so no span can raise it; when masking lowers it by more
than ``consistency_tolerance`` × the criterion's range, the page is flagged ``injection_suspected``. Flagged pages are counted in ``meta.json`` and the summary, and distillation never trains on them.

Pairwise criteria (``pairwise_*``, QuRating): pairs of sampled pages are asked "which is more …? A or B" in both
orders and aggregated by Bradley–Terry into one score per page (:mod:`tasks.rate.pairwise_stage`); their columns
join the same table and distil like the absolute scores.

Resumable: every rating is checkpointed in the cache (:mod:`tasks.rate.cache`) as it arrives, so a rerun after a
crash, a dead server or an exhausted budget only pays for what is missing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pyarrow as pa

from tasks.progress import print_summary
from tasks.rate.assemble import Doc as _Doc
from tasks.rate.assemble import assemble as _assemble
from tasks.rate.assemble import checked_reading as checked_reading
from tasks.rate.cache import RatingCache
from tasks.rate.client import (
    Job,
    Outcome,
    RaterClient,
    RaterConfig,
    RaterUnavailable,
    check_server,
    render_chatml,
)
from tasks.rate.criteria import (
    CRITERIA,
    Criterion,
    get_criteria,
    looks_like_text,
    normalize_whitespace,
    text_hash,
    truncate_middle,
)
from tasks.rate.pairwise import PairwiseCriterion
from tasks.rate.pairwise_stage import PairwiseRun, pair_char_budget, rate_pairwise
from tasks.rate.sample import in_heldout, stratified_sample
from tasks.rate.untrusted import mask_spans, normalise_untrusted, suspicious_spans
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    read_json,
    read_parquet,
    validate_name,
    write_json_atomic,
    write_parquet_atomic,
)

log = logging.getLogger(__name__)

ALL_CRITERIA: tuple[str, ...] = tuple(CRITERIA)


@dataclass(frozen=True)
class RateConfig:
    store: str
    server_url: str
    criteria: tuple[str, ...] = ALL_CRITERIA
    sample_size: int = 1000
    name: str = "default"
    snapshots: tuple[str, ...] | None = None
    seed: int = 0
    heldout_fraction: float = 0.2
    stratify_by_domain: bool = True
    exclude_duplicates: bool = True
    max_doc_tokens: int = 1024
    chars_per_token: float = 3.0
    model: str | None = None
    api: Literal["completions", "chat"] = "completions"
    batch_size: int = 8
    concurrency: int = 4
    # a batch of 8 prompts queued behind 3 others on a 2-core vLLM-on-CPU server can take minutes; a time-out
    # resends the whole batch, so a short one makes a slow server slower (GPU deployments answer in seconds)
    timeout_s: float = 600.0
    max_retries: int = 4
    max_requests: int | None = None
    consistency_check: bool = True
    # Flag when masking lowers a score by more than this fraction of its range (0.75 on 0-5, 0.15 on P(yes)).
    consistency_tolerance: float = 0.15
    # pairwise criteria (``pairwise_*``, tasks/rate/pairwise.py): comparisons per page (each asked in both
    # orders, so 2·k/2 = k prompts per page) and the Bradley–Terry prior (virtual wins/losses vs the average)
    pairwise_comparisons: int = 8
    pairwise_prior: float = 0.5

    def __post_init__(self) -> None:
        validate_name(self.name, "ratings name")
        if not 0.0 < self.consistency_tolerance <= 1.0:
            raise ValueError("consistency_tolerance must be in (0, 1]")
        get_criteria(list(self.criteria))
        if self.sample_size < 1:
            raise ValueError("sample_size must be >= 1")
        if self.pairwise_comparisons < 1 or self.pairwise_prior <= 0:
            raise ValueError("pairwise_comparisons must be >= 1 and pairwise_prior > 0")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError("heldout_fraction must be in [0, 1)")
        if self.max_doc_tokens < 16:
            raise ValueError("max_doc_tokens must be >= 16")
        if self.chars_per_token <= 0:
            raise ValueError("chars_per_token must be > 0")
        for snap in self.snapshots or ():
            validate_name(snap, "snapshot")
        self.rater_config()  # validates the client settings too

    def rater_config(self) -> RaterConfig:
        return RaterConfig(
            url=self.server_url,
            model=self.model,
            api=self.api,
            batch_size=self.batch_size,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_requests=self.max_requests,
        )

    def sample_params(self) -> dict[str, Any]:
        return {
            "sample_size": self.sample_size,
            "seed": self.seed,
            "snapshots": list(self.snapshots or []),
            "stratify_by_domain": self.stratify_by_domain,
            "exclude_duplicates": self.exclude_duplicates,
        }


@dataclass
class RateResult:
    name: str
    ratings_url: str
    model: str
    n_sampled: int
    rated: dict[str, int]
    cache_hits: int
    requests: int
    malformed: int
    failed: int
    budget_exhausted: bool
    complete: bool
    truncated: int
    injection_suspected: int
    rechecked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def prepare_text(raw: str | None, max_chars: int) -> tuple[str, str, bool, int]:
    """Untrusted page text → (prepared text, status, truncated, suspicious spans in it). Nothing is cut."""
    if raw is None or not raw.strip():
        return "", "empty", False, 0
    if not looks_like_text(raw):
        return "", "non_text", False, 0
    text = normalize_whitespace(normalise_untrusted(raw))
    if not text:
        return "", "empty", False, 0
    text, truncated = truncate_middle(text, max_chars)
    return text, "ok", truncated, len(suspicious_spans(text))


def masked_variant(text: str) -> str | None:
    """The prepared text with every suspicious span masked, or None when it has none."""
    spans = suspicious_spans(text)
    return mask_spans(text, spans) if spans else None


def _doc_char_budget(
    config: RateConfig, criteria: list[Criterion], max_model_len: int | None, text: str
) -> int:
    tokens = config.max_doc_tokens
    if max_model_len:
        # Prompt overhead without the document, over-estimated at 2.5 characters per token.
        overhead = max((len(render_chatml(c.messages(""))) for c in criteria), default=0) / 2.5
        tokens = max(16, min(tokens, int(max_model_len - overhead - 16)))
    sample = text[:4000]
    ascii_share = sum(1 for ch in sample if ord(ch) < 128) / max(1, len(sample))
    per_token = config.chars_per_token if ascii_share > 0.8 else min(config.chars_per_token, 1.2)
    return max(64, int(tokens * per_token))


def _load_or_make_sample(config: RateConfig, store: Store) -> pa.Table:
    base = join(store.ratings(), config.name)
    sample_url, params_url = join(base, "sample.parquet"), join(base, "sample_params.json")
    params = config.sample_params()
    if exists(sample_url) and exists(params_url) and read_json(params_url) == params:
        return read_parquet(sample_url)
    table = stratified_sample(
        store,
        config.sample_size,
        seed=config.seed,
        snapshots=config.snapshots,
        by_domain=config.stratify_by_domain,
        exclude_duplicates=config.exclude_duplicates,
    )
    split = [
        "heldout" if in_heldout(config.seed, i, config.heldout_fraction) else "train"
        for i in table.column("id").to_pylist()
    ]
    table = table.append_column("split", pa.array(split, pa.string()))
    write_parquet_atomic(sample_url, table)
    write_json_atomic(params_url, params)
    return table


def run_rate(config: RateConfig) -> RateResult:
    """Rate a stratified sample on every criterion; see the module docstring for what it writes."""
    store = Store(config.store)
    chosen = get_criteria(list(config.criteria))
    pairwise = [c for c in chosen if isinstance(c, PairwiseCriterion)]
    criteria = [c for c in chosen if not isinstance(c, PairwiseCriterion)]  # the absolute ones
    rater_cfg = config.rater_config()
    info = check_server(rater_cfg)  # a clear error before any work when the server is down
    sample = _load_or_make_sample(config, store)
    docs: list[_Doc] = []
    for row_id, raw in zip(sample.column("id").to_pylist(), sample.column("text").to_pylist(), strict=True):
        budget = _doc_char_budget(config, criteria, info.max_model_len, raw or "")
        text, status, truncated, suspicious = prepare_text(raw, budget)
        masked = masked_variant(text) if status == "ok" and config.consistency_check else None
        docs.append(
            _Doc(row_id, text, status, len(raw or ""), truncated, text_hash(text), masked, suspicious)
        )

    client = RaterClient(rater_cfg, info.model)
    caches: dict[str, RatingCache] = {}
    statuses: dict[tuple[str, str], str] = {}  # (criterion, doc_hash) -> status of this run's attempt
    cache_hits = 0
    dead: RaterUnavailable | None = None
    for criterion in criteria:
        cache = RatingCache(store, criterion.key, info.model, flush_every=max(4, config.batch_size))
        cache.load()
        caches[criterion.name] = cache
        jobs: dict[str, Job] = {}
        # Full texts first, then the masked variants of the consistency check.
        variants = [(d.doc_hash, d.text) for d in docs if d.status == "ok"]
        if criterion.kind != "choice":
            variants += [(text_hash(d.masked_text), d.masked_text) for d in docs if d.masked_text is not None]
        for key, text in variants:
            if cache.get(key) is not None:
                cache_hits += 1
            elif key not in jobs:
                jobs[key] = Job(key, criterion, text)
        if dead is not None or not jobs:
            continue

        def on_result(outcome: Outcome, cache: RatingCache = cache) -> None:
            statuses[(outcome.criterion, outcome.key)] = outcome.status
            if outcome.status == "ok" and outcome.reading is not None:
                cache.put(outcome.key, outcome.reading, outcome.sent_chars, outcome.shrinks)

        try:
            client.rate(list(jobs.values()), on_result)
        except RaterUnavailable as exc:
            dead = exc
        finally:
            cache.flush()
            cache.compact()

    paired = PairwiseRun()
    if pairwise and dead is None:
        paired = rate_pairwise(
            store,
            info.model,
            client,
            docs,
            pairwise,
            comparisons_per_doc=config.pairwise_comparisons,
            seed=config.seed,
            prior=config.pairwise_prior,
            use_masked=config.consistency_check,
            max_chars=pair_char_budget(
                pairwise, config.max_doc_tokens, config.chars_per_token, info.max_model_len
            ),
            flush_every=max(4, config.batch_size),
        )
        cache_hits += paired.cache_hits
        dead = paired.dead
    table, rated, failed_by_status, flagged = _assemble(
        sample, docs, criteria, caches, statuses, config.consistency_tolerance
    )
    table = paired.append_to(table)
    rated.update(paired.rated)
    stats = client.stats
    complete = (
        dead is None
        and (paired.complete or not pairwise)
        and all(c.name in paired.rated for c in pairwise)
        and not stats.budget_exhausted
        and all(
            rated[c.name] + failed_by_status[c.name] == sum(1 for d in docs if d.status == "ok")
            for c in criteria
        )
    )
    base = join(store.ratings(), config.name)
    write_parquet_atomic(join(base, "ratings.parquet"), table)
    for name, pairs_answered in paired.comparisons.items():
        write_parquet_atomic(join(base, f"{name}.comparisons.parquet"), pa.Table.from_pylist(pairs_answered))
    doc_status = Counter(d.status for d in docs)
    n_truncated = sum(d.truncated for d in docs)
    n_injection = sum(flagged)
    n_rechecked = sum(d.masked_text is not None for d in docs)
    meta: dict[str, Any] = {
        "name": config.name,
        "model": info.model,
        "server": info.url,
        "max_model_len": info.max_model_len,
        "criteria": {c.name: {"key": c.key, "kind": c.kind, "version": c.version} for c in criteria}
        | paired.meta,
        "n_sampled": len(docs),
        "doc_status": dict(doc_status),
        "rated": rated,
        "cache_hits": cache_hits,
        "complete": complete,
        "written_at": time.time(),
        "config": asdict(config),
        "requests": stats.as_dict(),
        "truncated": n_truncated,
        "injection_suspected": n_injection,
        "consistency_check": {
            "enabled": config.consistency_check,
            "tolerance": config.consistency_tolerance,
            "rechecked": n_rechecked,
            "flagged": n_injection,
        },
    }
    write_json_atomic(join(base, "meta.json"), meta)
    markers = CompletionMarkers(store.markers("rate", config.name))
    if complete:
        markers.mark_done("ratings", {"model": info.model, "n": len(docs)})
    result = RateResult(
        name=config.name,
        ratings_url=join(base, "ratings.parquet"),
        model=info.model,
        n_sampled=len(docs),
        rated=rated,
        cache_hits=cache_hits,
        requests=stats.requests,
        malformed=stats.malformed,
        failed=stats.failed,
        budget_exhausted=stats.budget_exhausted,
        complete=complete,
        truncated=n_truncated,
        injection_suspected=n_injection,
        rechecked=n_rechecked,
        skipped={k: v for k, v in doc_status.items() if k != "ok"},
        stats=stats.as_dict(),
    )
    print_summary(
        f"rate {config.name}",
        {
            "sampled": len(docs),
            **{f"rated {k}": v for k, v in rated.items()},
            "cache hits": cache_hits,
            "requests": stats.requests,
            "malformed": stats.malformed,
            "truncated": result.truncated,
            "re-rated with suspicious spans masked": n_rechecked,
            "injection suspected (excluded from distill)": result.injection_suspected,
            "budget exhausted": str(stats.budget_exhausted),
            "complete": str(complete),
        },
    )
    if dead is not None:
        raise RaterUnavailable(
            f"{dead} ({sum(rated.values())} ratings kept; partial table at {result.ratings_url})"
        )
    return result
