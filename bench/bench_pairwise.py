"""Benchmark: does pairwise rating (QuRating, Bradley–Terry) give more signal than absolute scores, on the same
pages with the same small model (SmolLM2-135M-Instruct on the local vLLM-on-CPU server)?

Pages: ``--per-class`` high-quality reference paragraphs (WikiText-2 valid, encyclopedic) and as many web pages
(CCNet head and C4 samples from ``../shared/data/crawl/cc-derived-jsonl``), each cut to ``--max-doc-tokens``
by the rate stage. One ``run_rate`` rates them with the absolute criteria (``--absolute``) and with
``pairwise_educational_value`` (``--k`` comparisons per page, both orders).

Signal, defined:

1. **External validity**: ROC AUC of the score at telling the reference paragraphs from the web pages (0.5 =
   no signal), with a 95 % bootstrap interval over pages. Reference text is not "more educational" by
   definition, but an educational-value rater that ranks it below random web text is not measuring much.
2. **Split-half reliability of the pairwise scores**: Bradley–Terry refitted on the even and on the odd
   sampling rounds (disjoint comparisons, k/2 per page each), Spearman between the two halves and the
   Spearman–Brown estimate for the full set, 2r / (1 + r). The absolute scores are read at temperature 0 from
   logprobs: asking again returns the same number, so their test–retest reliability is 1 by construction and
   tells nothing; the AUC is the comparison that counts.
3. The judge's position bias: mean P(A) over all questions, and the mean lean towards Page A per pair.

    .venv/bin/python bench/bench_pairwise.py [--per-class 12] [--k 8] [--max-doc-tokens 96] [--server-url URL]

Without ``--server-url`` it starts ``infra/vllm/serve.sh`` on a free port (run dir in a temp directory) and stops
it at the end. Prints one JSON object (and writes it to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tasks.ingest.shard import DOCUMENT_SCHEMA  # noqa: E402
from tasks.metrics import spearman  # noqa: E402
from tasks.rate import RateConfig, run_rate  # noqa: E402
from tasks.rate.bradley_terry import Comparison, fit_bradley_terry  # noqa: E402
from tasks.storage import Store, read_parquet, write_parquet_atomic  # noqa: E402

PAIRWISE = "pairwise_educational_value"


def detokenize(text: str) -> str:
    """WikiText-2 is stored tokenized ("the game 's", "60 cm ( 24 in )", "1 @,@ 000"): put it back into
    ordinary prose so that the comparison is about content, not about the tokenizer's spacing."""
    text = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    text = re.sub(r" ([.,;:!?)\]]|'s\b|n't\b)", r"\1", text)
    return re.sub(r"([(\[]) ", r"\1", text)


def reference_paragraphs(shared: Path, n: int, clean: bool = True) -> list[str]:
    text = (shared / "eval" / "wikitext-2" / "wiki.valid.txt").read_text(encoding="utf-8")
    paras = [p.strip() for p in text.split("\n") if len(p.strip()) > 600 and not p.strip().startswith("=")]
    if clean:  # ordinary prose: at most two <unk> holes per paragraph, dropped
        paras = [
            detokenize(p.replace(" <unk>", "").replace("<unk> ", "")) for p in paras if p.count("<unk>") <= 2
        ]
    step = max(1, len(paras) // n)
    return paras[::step][:n]


def web_pages(shared: Path, n: int) -> list[str]:
    out: list[str] = []
    base = shared / "crawl" / "cc-derived-jsonl"
    for path in (
        base / "dolma" / "cc_en_head-0091.jsonl.gz",
        *sorted((base / "olmo").glob("c4-sample.*.gz")),
    ):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out += [
                t for line in fh if line.strip() and len(t := str(json.loads(line).get("text") or "")) > 600
            ]
    step = max(1, len(out) // n)
    return out[::step][:n]


def write_store(root: Path, docs: list[tuple[str, str]]) -> None:
    rows = []
    for i, (kind, text) in enumerate(docs):
        rows.append(
            {
                "id": f"{kind}-{i:03d}",
                "url": f"https://{kind}.example/{i}",
                "snapshot": "BENCH-PAIRWISE",
                "warc_file": "bench.warc.gz",
                "warc_offset": i,
                "source": "jsonl",
                "text": text,
                "language": "en",
                "language_score": 0.9,
                "n_chars": len(text),
                "n_tokens": len(text.split()),
                "fetch_time": "2024-01-01T00:00:00Z",
            }
        )
    write_parquet_atomic(
        Store(str(root)).document_shard("BENCH-PAIRWISE", "shard-00000"),
        pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA),
    )


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann–Whitney)."""
    if not positive.size or not negative.size:
        return float("nan")
    diff = positive[:, None] - negative[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def auc_with_interval(scores: np.ndarray, is_ref: np.ndarray, rounds: int = 2000) -> dict[str, float]:
    rng = np.random.default_rng(0)
    point = auc(scores[is_ref], scores[~is_ref])
    ref, web = np.flatnonzero(is_ref), np.flatnonzero(~is_ref)
    boot = [auc(scores[rng.choice(ref, ref.size)], scores[rng.choice(web, web.size)]) for _ in range(rounds)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"auc": point, "ci95": [float(lo), float(hi)]}


def split_half(comparisons: pa.Table, ids: list[str], prior: float) -> dict[str, Any]:
    index = {d: i for i, d in enumerate(ids)}
    rows = comparisons.to_pylist()
    halves = []
    for parity in (0, 1):
        comps = [
            Comparison(index[r["a"]], index[r["b"]], r["p_a_wins"]) for r in rows if r["round"] % 2 == parity
        ]
        halves.append(fit_bradley_terry(len(ids), comps, prior=prior).theta)
    r = spearman(halves[0], halves[1])
    return {
        "spearman_halves": r,
        "spearman_brown": None if r is None else 2 * r / (1 + r),
        "theta_halves": [h.tolist() for h in halves],
    }


def turku_domain_agreement(url: str, shared: Path, n: int, max_doc_tokens: int) -> dict[str, Any]:
    """The LLM domain rater itself (not the distilled model) against the Turku CORE human register labels on
    ``n`` test-split pages (tasks/distill/human_labels.py: mapping, accuracy, Cohen's κ, Cramér's V)."""
    from tasks.distill.human_labels import load_register_pages, register_agreement

    pages = load_register_pages(shared / "labels" / "turku-register", sample_size=n)
    store = Path(tempfile.mkdtemp(prefix="bench-turku-"))
    write_store(store, [("turku", p.text) for p in pages])
    started = time.monotonic()
    result = run_rate(
        RateConfig(
            store=str(store),
            server_url=url,
            criteria=("domain",),
            sample_size=len(pages),
            name="turku",
            heldout_fraction=0.0,
            max_doc_tokens=max_doc_tokens,
            consistency_check=False,
            batch_size=8,
            concurrency=2,
        )
    )
    table = read_parquet(result.ratings_url).to_pandas().set_index("id")
    ids = [f"turku-{i:03d}" for i in range(len(pages))]
    domains = [table.loc[i, "domain"] if i in table.index else None for i in ids]
    out = register_agreement([p.registers for p in pages], domains)
    out["seconds"] = round(time.monotonic() - started, 1)
    out["rater"] = f"LLM domain criterion ({result.model}), {max_doc_tokens} tokens per page"
    return out


def start_server(run_dir: Path) -> tuple[str, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "QUARRY_VLLM_RUN_DIR": str(run_dir)}
    out = subprocess.run(
        ["bash", str(REPO / "infra" / "vllm" / "serve.sh"), str(port)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return out.stdout.strip().splitlines()[-1], port


def stop_server(run_dir: Path, port: int) -> None:
    pidfile = run_dir / f"vllm-{port}.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pidfile.read_text().strip()), signal.SIGTERM)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-url", default=None)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--per-class", type=int, default=12)
    ap.add_argument(
        "--k", type=int, default=8, help="comparisons per page (even: split-half uses the rounds)"
    )
    ap.add_argument("--max-doc-tokens", type=int, default=96)
    ap.add_argument(
        "--reference", choices=("clean", "raw"), default="clean", help="WikiText-2 detokenized, or as stored"
    )
    ap.add_argument("--absolute", default="educational_value", help="comma-separated absolute criteria")
    ap.add_argument(
        "--store", default=None, help="store directory (default: a temp dir); reruns use the cache"
    )
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--turku-pages",
        type=int,
        default=0,
        help="with --only-turku: pages for the LLM domain rater vs the Turku labels",
    )
    ap.add_argument("--only-turku", action="store_true")
    args = ap.parse_args()
    if args.only_turku:
        if not args.server_url:
            ap.error("--only-turku needs --server-url")
        agreement = turku_domain_agreement(
            args.server_url, Path(args.shared), args.turku_pages, args.max_doc_tokens
        )
        print(json.dumps(agreement, indent=2))
        if args.out:
            Path(args.out).write_text(json.dumps(agreement, indent=2) + "\n")
        return

    shared = Path(args.shared)
    docs = [("ref", t) for t in reference_paragraphs(shared, args.per_class, args.reference == "clean")]
    docs += [("web", t) for t in web_pages(shared, args.per_class)]
    store = Path(args.store or tempfile.mkdtemp(prefix="bench-pairwise-"))
    write_store(store, docs)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-pairwise-vllm-"))
    url, port = (args.server_url, 0) if args.server_url else start_server(run_dir)
    absolute = tuple(c for c in args.absolute.split(",") if c)
    try:
        started = time.monotonic()
        result = run_rate(
            RateConfig(
                store=str(store),
                server_url=url,
                criteria=(*absolute, PAIRWISE),
                sample_size=len(docs),
                name="bench",
                heldout_fraction=0.0,
                max_doc_tokens=args.max_doc_tokens,
                pairwise_comparisons=args.k,
                consistency_check=False,  # the same text for both methods; no masked re-rating
                batch_size=8,
                concurrency=2,
            )
        )
        seconds = time.monotonic() - started
    finally:
        if not args.server_url:
            stop_server(run_dir, port)
    table = read_parquet(result.ratings_url).to_pandas()
    is_ref = table["id"].str.startswith("ref").to_numpy()
    report: dict[str, Any] = {
        "pages": {"reference": int(is_ref.sum()), "web": int((~is_ref).sum())},
        "max_doc_tokens": args.max_doc_tokens,
        "k": args.k,
        "reference": args.reference,
        "model": result.model,
        "requests": result.requests,
        "prompts_ok": result.stats.get("ok"),
        "seconds": round(seconds, 1),
        "complete": result.complete,
    }
    meta = json.loads((store / "ratings" / "bench" / "meta.json").read_text())
    for name in (*absolute, PAIRWISE):
        scores = table[name].to_numpy(dtype=float)
        entry: dict[str, Any] = auc_with_interval(scores, is_ref)
        entry.update(
            mean_reference=float(np.nanmean(scores[is_ref])),
            mean_web=float(np.nanmean(scores[~is_ref])),
            std=float(np.nanstd(scores)),
            distinct=len(set(np.round(scores, 4))),
        )
        report[name] = entry
    pm = meta["criteria"][PAIRWISE]
    report[PAIRWISE].update(
        position_bias=pm["position_bias"], mean_p_first=pm["mean_p_first"], pairs=pm["pairs"]
    )
    comps = read_parquet(str(store / "ratings" / "bench" / f"{PAIRWISE}.comparisons.parquet"))
    halves = split_half(comps, table["id"].tolist(), prior=0.5)
    for h, theta in enumerate(halves.pop("theta_halves")):
        report[PAIRWISE][f"auc_half_{h}"] = auc(np.asarray(theta)[is_ref], np.asarray(theta)[~is_ref])
    report[PAIRWISE].update(halves)
    p = comps.column("p_a_wins").to_numpy()
    report[PAIRWISE]["decisive_share"] = float(np.mean(np.abs(p - 0.5) > 0.1))  # pairs the judge leaned on
    for name in absolute:
        report[f"spearman_{name}_vs_pairwise"] = spearman(
            table[name].to_numpy(float), table[PAIRWISE].to_numpy(float)
        )
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
