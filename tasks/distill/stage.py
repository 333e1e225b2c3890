"""The distill stage: LLM ratings → one fastText classifier per criterion (and one for the domain).

Labels. A score criterion is bucketed into ``n_bins`` quantile bins of the *training* ratings (so a rater whose
scores crowd into a narrow range still gives balanced classes); each bin's centre is the mean rating inside it
and the predicted score is Σ p(bin)·centre — the expected value in the rater's own units. The domain model is
trained on the rater's most likely domain.

Held-out. The rows the rate stage put in the ``heldout`` split are never trained on; the model card reports
agreement with them: Spearman ρ for scores, plus accuracy/F1 of "above threshold" (the training median, and the
criterion's own fixed cut where it has one); accuracy and macro-F1 for the domain.

Injection. Rows the rate stage flagged ``injection_suspected`` (the score moved when the page's suspicious spans
were masked: the page tried to steer the rater) are never trained on nor used as held-out truth; the model card
counts them (``excluded_injection_suspected``).

Output: ``models/<version>/<criterion>.bin``, ``model_card.json``, ``MODEL_CARD.md``, then the completion marker
``_markers/distill/<version>/model.done`` and the ``models/_latest.json`` pointer. The default version is a hash of
the ratings and the training settings, so rerunning on the same ratings is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tasks.distill.human_labels import domain_model_agreement
from tasks.distill.predict import LoadedModel, latest_pointer
from tasks.distill.signal import criterion_signal, human_labels_markdown, signal_markdown
from tasks.distill.text import fasttext_line
from tasks.metrics import spearman as spearman  # re-exported for the model card's agreement figures
from tasks.progress import print_summary
from tasks.rate.criteria import find_criterion, known_criteria
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    read_bytes,
    read_json,
    read_parquet,
    validate_name,
    write_bytes_atomic,
    write_json_atomic,
)


@dataclass(frozen=True)
class DistillConfig:
    store: str
    ratings: str = "default"
    criteria: tuple[str, ...] | None = None
    version: str | None = None
    n_bins: int = 5
    dim: int = 32
    epoch: int = 50
    lr: float = 0.5
    word_ngrams: int = 2
    bucket: int = 200_000
    min_count: int = 1
    threads: int = 2
    min_train_rows: int = 20
    seed: int = 0
    allow_incomplete: bool = False
    # human register labels (Turku CORE, ``<shared data>/labels/turku-register``): the domain model's agreement
    # with them goes into the model card (tasks/distill/human_labels.py); None: not measured
    human_labels: str | None = None
    human_labels_sample: int = 200

    def __post_init__(self) -> None:
        validate_name(self.ratings, "ratings name")
        if self.version is not None:
            validate_name(self.version, "model version")
        if self.criteria is not None:
            unknown = [c for c in self.criteria if find_criterion(c) is None]
            if unknown:
                raise ValueError(f"unknown criteria {unknown}; known: {known_criteria()}")
        if self.n_bins < 2:
            raise ValueError("n_bins must be >= 2")
        if self.dim < 1 or self.epoch < 1 or self.bucket < 1 or self.threads < 1:
            raise ValueError("dim, epoch, bucket and threads must be >= 1")
        if self.min_train_rows < 2:
            raise ValueError("min_train_rows must be >= 2")

    @property
    def trained_dim(self) -> int:
        """The dimension fastText trains with: ``dim`` rounded up to a multiple of ten (see :func:`_train`)."""
        return -(-self.dim // 10) * 10

    def training_params(self) -> dict[str, Any]:
        measured_only = ("store", "version", "allow_incomplete", "human_labels", "human_labels_sample")
        params = {k: v for k, v in asdict(self).items() if k not in measured_only}
        return {**params, "trained_dim": self.trained_dim}


@dataclass
class DistillResult:
    version: str
    models_url: str
    models: dict[str, dict[str, Any]]
    skipped: dict[str, str] = field(default_factory=dict)
    reused: bool = False


# ----------------------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------------------


def binary_agreement(truth: np.ndarray, pred: np.ndarray, threshold: float) -> dict[str, float | int]:
    t, p = truth >= threshold, pred >= threshold
    tp = int(np.sum(t & p))
    fp = int(np.sum(~t & p))
    fn = int(np.sum(t & ~p))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "accuracy": float(np.mean(t == p)) if len(t) else 0.0,
        "f1": f1,
        "positives_llm": int(t.sum()),
        "positives_model": int(p.sum()),
    }


def classification_agreement(truth: list[str], pred: list[str | None]) -> dict[str, Any]:
    labels = sorted(set(truth))
    acc = float(np.mean([t == p for t, p in zip(truth, pred, strict=True)])) if truth else 0.0
    f1s = []
    for lbl in labels:
        tp = sum(1 for t, p in zip(truth, pred, strict=True) if t == lbl and p == lbl)
        fp = sum(1 for t, p in zip(truth, pred, strict=True) if t != lbl and p == lbl)
        fn = sum(1 for t, p in zip(truth, pred, strict=True) if t == lbl and p != lbl)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {"accuracy": acc, "macro_f1": float(np.mean(f1s)) if f1s else 0.0, "labels": len(labels)}


# ----------------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------------
def _label_token(name: str) -> str:
    return "__label__" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def quantile_bins(values: np.ndarray, n_bins: int) -> tuple[list[float], np.ndarray, list[float]]:
    """Quantile bins of ``values``: (interior edges, each value's bin index, each bin's centre = its mean).
    Bins that come out empty (ties on a quantile) are dropped and the indices renumbered consecutively."""
    edges = sorted({float(q) for q in np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])})
    raw = np.searchsorted(np.asarray(edges), values, side="right")
    used = sorted(set(raw.tolist()))
    renumber = {b: i for i, b in enumerate(used)}
    idx = np.array([renumber[b] for b in raw.tolist()], dtype=np.int64)
    centres = [float(values[idx == i].mean()) for i in range(len(used))]
    return edges, idx, centres


def _train(lines: list[str], labels: list[str], config: DistillConfig, out_path: str) -> tuple[Any, float]:
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        order = np.random.default_rng(config.seed).permutation(len(lines))
        for i in order:
            fh.write(f"{labels[i]} {lines[i]}\n")
        train_file = fh.name
    try:
        lr = config.lr
        # fasttext-numpy2 0.10.4 initialises only thread/10 of the input matrix (uniformThread splits it into
        # ten blocks, one per thread) and its aligned storage is not zeroed: with fewer than 10 threads the
        # other rows hold whatever memory was there ("Encountered NaN" at random, or silently bad models).
        # Ten threads initialise every block; on fewer cores they simply share them (hogwild SGD).
        threads = max(config.threads, 10)
        # Each of those ten blocks is (rows x dim) // 10 floats, so the last (rows x dim) % 10 floats of the matrix
        # are never initialised either. Fresh pages are zero, but in a long-lived process (a test suite, a
        # worker) the matrix can land on reused heap memory and those floats hold garbage: the cross-fitted DCLM
        # classifier of tests/tasks/methods/test_dclm.py fell from AUC ~0.95 to 0.66 in two full-suite runs. A
        # dimension that is a multiple of ten makes rows x dim a multiple of ten for any vocabulary.
        dim = config.trained_dim
        for attempt in range(4):
            try:
                model = fasttext.train_supervised(
                    input=train_file,
                    dim=dim,
                    epoch=config.epoch,
                    lr=lr,
                    wordNgrams=config.word_ngrams,
                    bucket=config.bucket,
                    minCount=config.min_count,
                    thread=threads,
                    seed=config.seed,
                    verbose=0,
                    loss="softmax",
                )
                break
            except RuntimeError as exc:  # fastText diverges ("Encountered NaN") on small, long-document sets
                if "NaN" not in str(exc) or attempt == 3:
                    raise
                lr /= 2
    finally:
        os.unlink(train_file)
    model.save_model(out_path)
    return model, lr


def exclude_flagged(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop the rows flagged ``injection_suspected``; return the rest and how many were dropped."""
    kept = [r for r in rows if not r.get("injection_suspected")]
    return kept, len(rows) - len(kept)


def _default_version(ratings_bytes: bytes, config: DistillConfig, criteria: list[str]) -> str:
    h = hashlib.blake2b(digest_size=6)
    h.update(hashlib.blake2b(ratings_bytes, digest_size=16).digest())
    h.update(json.dumps([config.training_params(), criteria], sort_keys=True).encode())
    return f"d-{h.hexdigest()}"


def run_distill(config: DistillConfig) -> DistillResult:
    store = Store(config.store)
    ratings_dir = join(store.ratings(), config.ratings)
    ratings_url = join(ratings_dir, "ratings.parquet")
    if not exists(ratings_url):
        raise FileNotFoundError(
            f"no ratings at {ratings_url}: run `quarry rate --name {config.ratings}` first"
        )
    meta = read_json(join(ratings_dir, "meta.json"))
    if not meta.get("complete") and not config.allow_incomplete:
        raise ValueError(
            f"ratings {config.ratings!r} are incomplete (rate stage not finished: budget or server); rerun "
            "`quarry rate` to resume, or pass allow_incomplete"
        )
    rated = list(meta["criteria"])
    criteria = [c for c in (config.criteria or tuple(rated)) if c in rated]
    missing = [c for c in (config.criteria or ()) if c not in rated]
    if missing:
        raise ValueError(f"criteria {missing} were not rated in {config.ratings!r} (rated: {rated})")
    raw = read_bytes(ratings_url)
    version = config.version or _default_version(raw, config, criteria)
    base = store.models(version)
    markers = CompletionMarkers(store.markers("distill", version))
    if markers.is_done("model"):
        card = read_json(join(base, "model_card.json"))
        write_json_atomic(latest_pointer(store), {"version": version, "updated_at": time.time()})
        return DistillResult(version, base, card["models"], card.get("skipped", {}), reused=True)

    table = read_parquet(ratings_url)
    rows, n_flagged = exclude_flagged(table.to_pylist())
    entries: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    human: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="quarry-distill-") as tmp:
        for name in criteria:
            crit = find_criterion(name)
            assert crit is not None  # validated against the rated criteria above
            ok = [
                r for r in rows if r.get(f"{name}__status") == "ok" and r.get(name) is not None and r["text"]
            ]
            train = [r for r in ok if r["split"] != "heldout"]
            held = [r for r in ok if r["split"] == "heldout"]
            if len(train) < config.min_train_rows:
                skipped[name] = f"only {len(train)} training rows (< {config.min_train_rows})"
                continue
            train_lines = [fasttext_line(r["text"]) for r in train]
            held_lines = [fasttext_line(r["text"]) for r in held]
            path = os.path.join(tmp, f"{name}.bin")
            entry: dict[str, Any] = {
                "criterion": name,
                "criterion_key": meta["criteria"][name]["key"],
                "file": f"{name}.bin",
                "train_size": len(train),
                "heldout_size": len(held),
            }
            if crit.kind == "choice":
                names = [str(r[name]) for r in train]
                label_names = {_label_token(n): n for n in sorted(set(names))}
                model, lr_used = _train(train_lines, [_label_token(n) for n in names], config, path)
                entry.update(
                    kind="domain",
                    label_names=label_names,
                    train_distribution={n: names.count(n) for n in sorted(set(names))},
                )
                loaded = LoadedModel(name, "domain", model, entry)
                if config.human_labels:
                    human = domain_model_agreement(loaded, config.human_labels, config.human_labels_sample)
                if held:
                    _, pred = loaded.predict(held_lines)
                    entry["heldout"] = classification_agreement([str(r[name]) for r in held], pred)
            else:
                values = np.array([float(r[name]) for r in train])
                edges, bins, centres = quantile_bins(values, config.n_bins)
                if len(centres) < 2:
                    skipped[name] = "all training ratings fall into one bin (constant rater output)"
                    continue
                labels = [f"__label__b{int(b)}" for b in bins]
                model, lr_used = _train(train_lines, labels, config, path)
                entry.update(
                    kind="score",
                    bin_edges=edges,
                    bin_centres={f"__label__b{i}": c for i, c in enumerate(centres)},
                    value_range=list(crit.value_range),
                )
                loaded = LoadedModel(name, "score", model, entry)
                if held:
                    truth = np.array([float(r[name]) for r in held])
                    pred_scores, _ = loaded.predict(held_lines)
                    agreement: dict[str, Any] = {
                        "spearman": spearman(truth, pred_scores),
                        "mae": float(np.mean(np.abs(truth - pred_scores))),
                    }
                    agreement["above_median"] = binary_agreement(truth, pred_scores, float(np.median(values)))
                    if crit.threshold is not None:
                        agreement["above_fixed"] = binary_agreement(truth, pred_scores, crit.threshold)
                    entry["heldout"] = agreement
                    entry["signal"] = criterion_signal(pred_scores, crit.value_range, truth)
                else:  # no held-out ratings: the spread on the training pages is all there is to measure
                    entry["signal"] = criterion_signal(loaded.predict(train_lines)[0], crit.value_range)
            entry["learning_rate"] = lr_used
            blob = open(path, "rb").read()  # noqa: SIM115
            entry["sha256"] = hashlib.sha256(blob).hexdigest()
            entry["bytes"] = len(blob)
            write_bytes_atomic(join(base, entry["file"]), blob)
            entries[name] = entry
    if not entries:
        raise ValueError(f"nothing to distill from ratings {config.ratings!r}: {skipped}")
    card = {
        "version": version,
        "created_at": time.time(),
        "ratings": config.ratings,
        "ratings_sha": hashlib.blake2b(raw, digest_size=16).hexdigest(),
        "rater_model": meta.get("model"),
        "training": config.training_params(),
        "text_normalisation": "lower-case, tokens \\w+|[^\\w\\s] joined by spaces, first 2000 tokens",
        "models": entries,
        "skipped": skipped,
        "excluded_injection_suspected": n_flagged,
        "human_labels": human,
    }
    write_json_atomic(join(base, "model_card.json"), card)
    write_bytes_atomic(join(base, "MODEL_CARD.md"), model_card_markdown(card).encode())
    markers.mark_done("model", {"models": sorted(entries)})
    write_json_atomic(latest_pointer(store), {"version": version, "updated_at": time.time()})
    summary: dict[str, Any] = {"version": version, "excluded (injection suspected)": n_flagged}
    for name, e in entries.items():
        h = e.get("heldout", {})
        summary[f"{name} train/heldout"] = f"{e['train_size']}/{e['heldout_size']}"
        if e["kind"] == "score":
            summary[f"{name} spearman"] = "n/a" if h.get("spearman") is None else f"{h['spearman']:.3f}"
            if not e.get("signal", {}).get("carries_signal", True):
                summary[f"{name} NO SIGNAL"] = e["signal"]["reason"]
        else:
            summary[f"{name} accuracy"] = f"{h.get('accuracy', float('nan')):.3f}"
    for name, why in skipped.items():
        summary[f"{name} skipped"] = why
    if human and "kappa" in human:
        kappa = "n/a" if human["kappa"] is None else f"{human['kappa']:.3f}"
        summary["domain vs human registers"] = f"kappa {kappa} on {human['n_answered']} pages"
    print_summary("distill", summary)
    return DistillResult(version, base, entries, skipped)


def model_card_markdown(card: dict[str, Any]) -> str:
    lines = [
        f"# Quarry quality/domain models {card['version']}",
        "",
        f"Distilled from LLM ratings `{card['ratings']}` (rater model `{card['rater_model']}`) into fastText "
        "supervised classifiers. Predicted score = expected value over the rating bins.",
        "",
        "| model | kind | train | held-out | agreement with held-out LLM ratings |",
        "|---|---|---|---|---|",
    ]
    for name, e in card["models"].items():
        h = e.get("heldout") or {}
        if e["kind"] == "score":
            rho = h.get("spearman")
            med = h.get("above_median", {})
            agree = (
                f"Spearman {'n/a' if rho is None else f'{rho:.3f}'}; above-median acc "
                f"{med.get('accuracy', float('nan')):.3f}, F1 {med.get('f1', float('nan')):.3f}"
            )
            if "above_fixed" in h:
                fx = h["above_fixed"]
                agree += f"; ≥{fx['threshold']:g} acc {fx['accuracy']:.3f}, F1 {fx['f1']:.3f}"
        else:
            agree = f"accuracy {h.get('accuracy', float('nan')):.3f}, macro-F1 {h.get('macro_f1', float('nan')):.3f}"
        lines.append(f"| {name} | {e['kind']} | {e['train_size']} | {e['heldout_size']} | {agree} |")
    if card.get("excluded_injection_suspected"):
        lines += [
            "",
            f"Excluded: {card['excluded_injection_suspected']} rated pages flagged as prompt-injection suspects "
            "(their score moved when their suspicious spans were masked).",
        ]
    if card.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in card["skipped"].items())]
    lines += signal_markdown(card)
    lines += human_labels_markdown(card)
    lines += ["", f"Training settings: `{json.dumps(card['training'], sort_keys=True)}`", ""]
    return "\n".join(lines)
